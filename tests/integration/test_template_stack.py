"""The CloudFormation template deployed on the emulator's CloudFormation, then the end-to-end
story against the stack it created (not deploy.py's resources)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dynamo_continuous_backup.core.alarms import fleet_alarms
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import ENV_CONFIG, Config
from dynamo_continuous_backup.install.deployer import Deployer
from dynamo_continuous_backup.install.packaging import code_sha256
from dynamo_continuous_backup.install.template import write_template
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.status import fleet_status

from ..helpers import BUCKET, REGION, s3_records, stack_resources_present

STACK = "dynamo-continuous-backup"


def test_template_stack_protects_new_tables_and_deletes_cleanly(
    aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN the bucket (the template does not manage it) and the template deploy writes, its code uploaded
    aws.s3.create_bucket(Bucket=BUCKET)
    config = Config(
        firehose_delivery_bucket=BUCKET,
        region=REGION,
        firehose_delivery_prefix="backups",
        firehose_delivery_interval_seconds=0,
        streams_batching_window_seconds=0,
        table_name_exclude_regex="scratch-.*",
        alarm_email="ops@example.com",
    )
    deployer = Deployer(aws, config)
    path = tmp_path / "template.json"
    write_template(deployer, path)
    template = json.loads(path.read_text())

    # WHEN CloudFormation creates the stack
    cfn = aws.get("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=path.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # THEN every resource of the template exists, the functions running the uploaded code
    present = stack_resources_present(template, aws)
    assert present and all(present.values()), present
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    } <= kinds
    [topic] = [t["TopicArn"] for t in aws.get("sns").list_topics()["Topics"]]
    fleet = {a["AlarmName"]: a for a in aws.get("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(fleet) == {a.name for a in fleet_alarms(config, topic)}
    assert all(a["AlarmActions"] == [topic] for a in fleet.values())
    firehose_role = aws.iam.get_role(RoleName="dynamo-backup-firehose")["Role"]["Arn"]
    for fn in (config.ensure_function_name, config.forwarder_function_name):
        got = aws.lambda_.get_function_configuration(FunctionName=fn)
        assert got["CodeSha256"] == code_sha256(deployer.code), fn
        env = json.loads(got["Environment"]["Variables"][ENV_CONFIG])  # Fn::Sub resolved
        assert env["firehoseDeliveryRoleArn"] == firehose_role and env["firehoseDeliveryBucket"] == BUCKET
        assert env["alarmTopicArn"] == topic and got["LoggingConfig"]["LogFormat"] == "JSON"

    # WHEN a user creates a table (and one the opt-in filter excludes), with the local runtime
    # delivering EventBridge events to the stack's rules
    runtime = LocalRuntime(aws)
    make_table("orders")
    make_table("scratch-1")
    runtime.settle()
    # THEN the stack's ensure function protected only the opted-in one, by the table event alone
    assert ("dynamo-backup-ensure", "AWS API Call via CloudTrail") in runtime.invocations
    assert ("dynamo-backup-ensure", "Scheduled Event") not in runtime.invocations
    rows = {r.table: r for r in fleet_status(aws, config)}
    assert rows["orders"].protected and rows["orders"].stream_view_type == "NEW_AND_OLD_IMAGES"
    assert not rows["scratch-1"].opted_in and rows["scratch-1"].stream_view_type is None
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]
    mappings = aws.lambda_.list_event_source_mappings(FunctionName=config.forwarder_function_name)
    stream = aws.dynamodb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    assert [m["EventSourceArn"] for m in mappings["EventSourceMappings"]] == [stream]
    # ... and gave its delivery stream its alarms, notifying the stack's topic
    delivery = aws.get("cloudwatch").describe_alarms(AlarmNamePrefix="dynamo-backup-delivery-")["MetricAlarms"]
    assert sorted((a["AlarmName"], a["AlarmActions"][0]) for a in delivery) == [
        ("dynamo-backup-delivery-orders-failing", topic),
        ("dynamo-backup-delivery-orders-freshness", topic),
    ]

    # WHEN items are written, updated and deleted
    for n in range(20):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}, "v": {"N": str(n)}})
    aws.dynamodb.update_item(
        TableName="orders",
        Key={"pk": {"S": "k1"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "100"}},
    )
    aws.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": "k2"}})
    runtime.settle()
    # THEN the stack's forwarder put every change in S3 as change records
    got = s3_records(aws, "backups/orders/")
    assert [r["eventName"] for r in got] == ["INSERT"] * 20 + ["MODIFY", "REMOVE"]
    assert got[20]["NewImage"]["v"] == {"N": "100"} and got[21]["OldImage"]["pk"] == {"S": "k2"}
    assert all(r["tableName"] == "orders" and r["eventID"] for r in got)

    # WHEN the stack is deleted
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter("stack_delete_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # THEN none of its resources is left, and the bucket keeps the backups and the code artifact
    assert not any(stack_resources_present(template, aws).values()), stack_resources_present(template, aws)
    assert aws.lambda_.list_functions()["Functions"] == []
    assert len(s3_records(aws, "backups/orders/")) == len(got)
    aws.s3.head_object(Bucket=BUCKET, Key=template["Parameters"]["CodeKey"]["Default"])


def test_emulator_cloudformation_creates_and_deletes_alarms_and_subscriptions(aws: Clients) -> None:
    # GIVEN a template of the monitoring types moto's CloudFormation lacks (local/moto_services.py adds them)
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "alarms"}},
            "Mail": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": "ops@example.com"},
            },
            "Errors": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "fn-errors",
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "fn"}],
                    "Statistic": "Sum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 0,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "AlarmActions": [{"Ref": "Topic"}],
                },
            },
            "Ratio": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "ratio",
                    "EvaluationPeriods": "2",
                    "Threshold": "1",
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "Metrics": [
                        {
                            "Id": "m",
                            "MetricStat": {
                                "Metric": {"Namespace": "N", "MetricName": "M"},
                                "Period": 60,
                                "Stat": "Sum",
                            },
                            "ReturnData": False,
                        },
                        {"Id": "e", "Expression": "m * 2", "ReturnData": True},
                    ],
                },
            },
            "Board": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardName": "board", "DashboardBody": json.dumps({"widgets": []})},
            },
        },
        "Outputs": {"ErrorsArn": {"Value": {"Fn::GetAtt": ["Errors", "Arn"]}}},
    }
    cfn = aws.get("cloudformation")
    # WHEN the stack is created THEN every resource exists, the alarm notifying the topic
    cfn.create_stack(StackName="monitoring", TemplateBody=json.dumps(template))
    assert all(stack_resources_present(template, aws).values()), stack_resources_present(template, aws)
    alarms = {a["AlarmName"]: a for a in aws.get("cloudwatch").describe_alarms()["MetricAlarms"]}
    topic = aws.get("sns").list_topics()["Topics"][0]["TopicArn"]
    assert alarms["fn-errors"]["AlarmActions"] == [topic] and alarms["fn-errors"]["Threshold"] == 0
    assert [m["Id"] for m in alarms["ratio"]["Metrics"]] == ["m", "e"] and alarms["ratio"]["EvaluationPeriods"] == 2
    outputs = cfn.describe_stacks(StackName="monitoring")["Stacks"][0]["Outputs"]
    assert outputs[0]["OutputValue"] == alarms["fn-errors"]["AlarmArn"]
    # WHEN the stack is deleted THEN none is left
    cfn.delete_stack(StackName="monitoring")
    assert not any(stack_resources_present(template, aws).values())
    assert aws.get("sns").list_subscriptions()["Subscriptions"] == []

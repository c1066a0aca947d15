"""The alarms that say capture broke: deploy creates the fleet's alarms, topic and dashboard and
--remove deletes them; each delivery stream's alarms come and go with the stream."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dynamo_continuous_backup.core.alarms import delivery_alarms
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..helpers import BUCKET, cli, files


def alarms(aws: Clients) -> dict[str, dict[str, Any]]:
    return {a["AlarmName"]: a for a in aws.get("cloudwatch").describe_alarms()["MetricAlarms"]}


def topics(aws: Clients) -> list[str]:
    return [t["TopicArn"].rsplit(":", 1)[1] for t in aws.get("sns").list_topics()["Topics"]]


def dashboards(aws: Clients) -> list[str]:
    return [d["DashboardName"] for d in aws.get("cloudwatch").list_dashboards()["DashboardEntries"]]


def test_deploy_creates_the_fleet_alarms_and_remove_deletes_them(aws: Clients, tmp_path: Path) -> None:
    # GIVEN a config that asks for an email on alarms and allows 10 minutes of lag
    path = tmp_path / "c.hjson"
    path.write_text(
        json.dumps({"firehoseDeliveryBucket": BUCKET, "alarmEmail": "ops@example.com", "maxLagSeconds": 600})
    )
    # WHEN deploy runs, twice
    assert cli("deploy", "--config", str(path))[0] == 0
    code, out, _ = cli("deploy", "--config", str(path))
    # THEN the alarms watch both functions and the undelivered records, and notify the topic it created
    assert code == 0 and "nothing to change" in out
    found = alarms(aws)
    [topic] = [t["TopicArn"] for t in aws.get("sns").list_topics()["Topics"]]
    assert set(found) == {
        "dynamo-backup-forwarder-errors",
        "dynamo-backup-forwarder-iterator-age",
        "dynamo-backup-records-undelivered",
        "dynamo-backup-ensure-errors",
    }
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in found.values())
    age = found["dynamo-backup-forwarder-iterator-age"]
    assert (age["MetricName"], age["Threshold"]) == ("IteratorAge", 630_000)  # maxLagSeconds + the 30 s window
    assert age["Dimensions"] == [{"Name": "FunctionName", "Value": "dynamo-backup-forwarder"}]
    subscribed = aws.get("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscribed] == [("email", "ops@example.com")]
    body = json.loads(aws.get("cloudwatch").get_dashboard(DashboardName="dynamo-backup")["DashboardBody"])
    assert {w["properties"]["title"].split(" ")[0] for w in body["widgets"]} == {
        "Capture",
        "Throughput:",
        "Errors",
        "Delivery",
    }
    # AND both functions log JSON
    for name in ("dynamo-backup-forwarder", "dynamo-backup-ensure"):
        logging = aws.lambda_.get_function_configuration(FunctionName=name)["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
    # WHEN it is removed, with a delivery stream's alarm left behind (a table protected when a
    # forced removal ran), THEN every alarm, the dashboard and its topic go with it
    aws.get("cloudwatch").put_metric_alarm(**delivery_alarms(Config(BUCKET), "orders", topic)[0].put_args())
    assert cli("deploy", "--config", str(path), "--remove")[0] == 0
    assert alarms(aws) == {} and dashboards(aws) == [] and topics(aws) == []


def test_a_topic_the_config_names_is_used_and_never_deleted(aws: Clients, tmp_path: Path) -> None:
    # GIVEN the team's own topic named in the config
    theirs = aws.get("sns").create_topic(Name="ops-pager")["TopicArn"]
    path = tmp_path / "c.hjson"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "alarmTopicArn": theirs}))
    # WHEN deploy runs and is removed
    assert cli("deploy", "--config", str(path))[0] == 0
    assert {a["AlarmActions"][0] for a in alarms(aws).values()} == {theirs} and topics(aws) == ["ops-pager"]
    assert cli("deploy", "--config", str(path), "--remove")[0] == 0
    # THEN their topic is still there
    assert topics(aws) == ["ops-pager"]


def test_each_delivery_stream_gets_its_alarms_with_it_and_loses_them_with_it(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a table provisioned from the command line
    make_table("orders")
    wl, cfg = files(tmp_path, config, '{tableNames: ["orders"]}')
    assert cli("provision", wl, "--config", cfg)[0] == 0
    # THEN its delivery stream has its two alarms on Firehose's delivery metrics, notifying deploy's topic
    found = alarms(aws)
    assert set(found) == {"dynamo-backup-delivery-orders-failing", "dynamo-backup-delivery-orders-freshness"}
    for alarm in found.values():
        assert alarm["Namespace"] == "AWS/Firehose"
        assert alarm["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": "orders"}]
        assert alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:dynamo-backup-alarms"]
    # WHEN it is provisioned again with a longer lag allowed
    wl, cfg = files(tmp_path, config, '{tableNames: ["orders"]}', maxLagSeconds=1200)
    assert cli("provision", wl, "--config", cfg)[0] == 0
    fresh = alarms(aws)["dynamo-backup-delivery-orders-freshness"]
    assert fresh["Threshold"] == 1200 + config.firehose_delivery_interval_seconds
    # WHEN it is deprovisioned, THEN the alarms go with its delivery stream
    assert cli("deprovision", wl, "--config", cfg)[0] == 0
    assert alarms(aws) == {}

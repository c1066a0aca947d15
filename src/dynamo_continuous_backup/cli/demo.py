"""`make demo`: the whole story on the embedded default, in about a minute, no AWS account."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.aws import Clients
from ..core.records import iter_lines
from ..local import LocalRuntime
from ..local.emulator import EmbeddedMoto
from ..provisioning.status import fleet_status
from .main import UI, main

BUCKET = "demo-dynamodb-backups"


def _wait(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"demo: timed out waiting for {what}")


class Demo:
    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def step(self, text: str) -> None:
        self.ui.line(f"\n== {text}")

    def cli(self, *args: str) -> int:
        out = io.StringIO()
        code = main(list(args), UI(out, out))
        for line in out.getvalue().splitlines():
            self.ui.line(f"   {line}")
        return code

    def run(self) -> int:
        self.step("Starting the embedded AWS (moto server on 127.0.0.1) and the local runtime")
        moto = EmbeddedMoto().start()
        saved_env = dict(os.environ)
        os.environ.update(moto.environment())
        self.ui.line(f"   endpoint {moto.endpoint}; every command below uses it through AWS_ENDPOINT_URL")
        work = Path(tempfile.mkdtemp(prefix="dcb-demo-"))
        os.environ["DCB_CACHE_DIR"] = str(work / "cache")  # restored along with the rest of the environment
        config = work / "config.hjson"
        config.write_text(
            json.dumps(
                {
                    "firehoseDeliveryBucket": BUCKET,
                    "firehoseDeliveryPrefix": "backups",
                    "firehoseDeliveryIntervalSeconds": 0,
                    "streamsBatchingWindowSeconds": 2,  # a short window: the demo's changes reach S3 soon
                    "drainSeconds": 2,
                    "tableNameExcludeRegex": "scratch-.*",
                },
                indent=2,
            )
        )
        self.ui.line(f"   config {config}: every table except scratch-.* is backed up")
        clients = Clients()
        runtime: LocalRuntime | None = None
        try:
            # A trail logging management events is what lets EventBridge see CreateTable in AWS.
            clients.s3.create_bucket(Bucket="demo-cloudtrail-logs")
            clients.get("cloudtrail").create_trail(Name="management-events", S3BucketName="demo-cloudtrail-logs")
            clients.get("cloudtrail").start_logging(Name="management-events")
            self.step("python deploy.py --config config.hjson")
            if self.cli("deploy", "--config", str(config)) != 0:
                return 1
            runtime = LocalRuntime(clients, poll_interval=0.1).start()
            return self._story(clients, config, runtime)
        finally:
            if runtime:
                runtime.stop()
            moto.stop()
            os.environ.clear()
            os.environ.update(saved_env)

    def _story(self, clients: Clients, config: Path, runtime: LocalRuntime) -> int:
        from ..core.config import load_config

        cfg = load_config(config)
        self.step("Creating two tables: orders (opted in) and scratch-cache (excluded by the regex)")
        for name in ("orders", "scratch-cache"):
            clients.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        start = time.monotonic()
        _wait(
            "orders to be protected",
            lambda: any(r.protected for r in fleet_status(clients, cfg) if r.table == "orders"),
        )
        self.ui.line(f"   orders protected {time.monotonic() - start:.1f}s after CreateTable, with no other call:")
        self.cli("status", "--config", str(config))

        self.step("Writing to orders: 5 puts, 2 updates, 1 delete")
        for i in range(5):
            clients.dynamodb.put_item(
                TableName="orders",
                Item={"id": {"S": f"order-{i}"}, "total": {"N": str(10 * i)}, "status": {"S": "new"}},
            )
        for i in (1, 2):
            clients.dynamodb.update_item(
                TableName="orders",
                Key={"id": {"S": f"order-{i}"}},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "shipped"}},
            )
        clients.dynamodb.delete_item(TableName="orders", Key={"id": {"S": "order-4"}})
        lines = _wait("8 change records in S3", lambda: (lambda r: r if len(r) >= 8 else None)(self._records(clients)))
        self.ui.line("   change records in S3 (object keys):")
        for key in sorted({k for k, _ in lines}):
            self.ui.line(f"     s3://{BUCKET}/{key}")
        self.ui.line("   a few decoded lines:")
        for _, rec in lines[-4:]:
            new = rec.get("NewImage", {}).get("status", {}).get("S", "-")
            old = rec.get("OldImage", {}).get("status", {}).get("S", "-")
            self.ui.line(
                f"     {rec['eventName']:<6} id={rec['Keys']['id']['S']:<8} status {old} -> {new}"
                f"  seq={rec['SequenceNumber']}"
            )

        self.step("dynamo-backup status --config config.hjson")
        self.cli("status", "--config", str(config))
        self.step("The alarms that say when capture breaks (deploy's, and the ones orders' delivery stream got)")
        for alarm in clients.get("cloudwatch").describe_alarms()["MetricAlarms"]:
            self.ui.line(f"   {alarm['AlarmName']:<45} {alarm['Namespace']} {alarm['MetricName']}")
        self.step(
            "dynamo-backup estimate orders --config config.hjson --writes-per-second 10 (monthly cost beside PITR, "
            "and the quota; moto reports every table's size as 0 B; figures of this config: a 2 s window, a 0 s buffer)"
        )
        self.cli("estimate", "orders", "--config", str(config), "--writes-per-second", "10")

        self.step("Deleting the orders table: its stream drains, then our resources go; backups stay")
        clients.dynamodb.delete_table(TableName="orders")
        _wait(
            "the delete to be noticed",
            lambda: ("dynamo-backup-ensure", "AWS API Call via CloudTrail") in runtime.invocations[-3:],
        )
        time.sleep(cfg.drain_seconds + 0.5)

        def reconciled() -> bool:  # the hourly reconcile, now: it removes ours once S3 holds every change
            runtime.fire_schedules(force=True)
            return not clients.firehose.list_delivery_streams()["DeliveryStreamNames"]

        _wait("the stream to be drained into S3", reconciled, timeout=60)
        streams = clients.firehose.list_delivery_streams()["DeliveryStreamNames"]
        self.ui.line(
            f"   delivery streams left: {streams or 'none'}; change records still in S3: {len(self._records(clients))}"
        )
        self.step("dynamo-backup restore orders --to orders-restored (the source table is gone)")
        if self.cli("restore", "orders", "--to", "orders-restored", "--config", str(config)) != 0:
            return 1
        items = clients.dynamodb.scan(TableName="orders-restored")["Items"]
        for item in sorted(items, key=lambda i: i["id"]["S"]):
            self.ui.line(f"     {item['id']['S']:<8} total={item['total']['N']:<3} status={item['status']['S']}")
        self.ui.line(
            "\nDemo finished: the opted-in table was protected by itself, every change reached S3,"
            " its backups outlived the table, and it came back exactly."
        )
        return 0

    @staticmethod
    def _records(clients: Clients) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="backups/orders/"):
            for obj in page.get("Contents", []):
                body = clients.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                out += [(obj["Key"], rec) for rec in iter_lines(body)]
        return sorted(out, key=lambda kr: (len(kr[1]["SequenceNumber"]), kr[1]["SequenceNumber"]))


def run(ui: UI | None = None) -> int:
    logging.basicConfig(level=logging.ERROR)
    return Demo(ui or UI()).run()


if __name__ == "__main__":
    sys.exit(run())

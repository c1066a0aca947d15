"""The CloudWatch dashboard deploy creates: the fleet's lag, throughput, errors and delivery
health on one page (pure; the body is CloudWatch's dashboard JSON)."""

from __future__ import annotations

import json
from typing import Any

from ..core.alarms import NAMESPACE
from ..core.config import Config


def dashboard_name(config: Config) -> str:
    return config.resource_prefix


def _widget(title: str, metrics: list[list[Any]], region: str, x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "region": region, "stat": stat, "period": 300, "metrics": metrics},
    }


def _search(query: str, stat: str, label: str) -> list[Any]:
    # One line per delivery stream, whichever exist now: the dashboard needs no update per table.
    return [{"expression": f"SEARCH('{query}', '{stat}', 300)", "label": label, "id": label.lower()}]


def dashboard_body(config: Config, region: str) -> str:
    forwarder, ensure = config.forwarder_function_name, config.ensure_function_name
    widgets = [
        _widget(
            "Capture lag (s): newest change captured vs now",
            [
                [NAMESPACE, "LagSeconds", {"stat": "Maximum", "label": "lag, all tables"}],
                [
                    "AWS/Lambda",
                    "IteratorAge",
                    "FunctionName",
                    forwarder,
                    {"stat": "Maximum", "label": "forwarder iterator age (ms)", "yAxis": "right"},
                ],
            ],
            region,
            0,
            0,
            "Maximum",
        ),
        _widget(
            "Throughput: change records forwarded",
            [
                [NAMESPACE, "RecordsForwarded", {"label": "forwarded"}],
                [NAMESPACE, "OversizeRecords", {"label": "oversize (stored in S3 directly)"}],
                [NAMESPACE, "Retries", {"label": "retried puts"}],
            ],
            region,
            12,
            0,
        ),
        _widget(
            "Errors",
            [
                ["AWS/Lambda", "Errors", "FunctionName", forwarder, {"label": "forwarder errors"}],
                ["AWS/Lambda", "Errors", "FunctionName", ensure, {"label": "ensure errors"}],
                [NAMESPACE, "RecordsUndelivered", {"label": "records not handed to Firehose"}],
            ],
            region,
            0,
            6,
        ),
        _widget(
            "Delivery to S3: success (1 = all) and data freshness (s), per delivery stream",
            [
                _search('{AWS/Firehose,DeliveryStreamName} MetricName="DeliveryToS3.Success"', "Minimum", "Success"),
                _search(
                    '{AWS/Firehose,DeliveryStreamName} MetricName="DeliveryToS3.DataFreshness"',
                    "Maximum",
                    "Freshness",
                ),
            ],
            region,
            12,
            6,
            "Minimum",
        ),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)

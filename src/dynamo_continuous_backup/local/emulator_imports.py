"""moto has ImportTable and DescribeImport but no ListImports (the client gets a 500, retried
for about 20 s), which `dynamo-backup jobs` calls: answer it from moto's own imports, with the
fields of AWS's ImportSummary that moto keeps (no start or end time)."""

from __future__ import annotations

from typing import Any


def list_imports() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    if hasattr(DynamoHandler, "list_imports"):
        return

    def answer(self: Any) -> ActionResult:
        summaries = [
            {
                "ImportArn": i.arn,
                "ImportStatus": i.status,
                "TableArn": i.table_arn,
                "S3BucketSource": i.s3_source,
                "InputFormat": "DYNAMODB_JSON",
            }
            for i in self.dynamodb_backend.table_imports.values()
        ]
        return ActionResult({"ImportSummaryList": summaries})

    DynamoHandler.list_imports = answer  # type: ignore[attr-defined]

"""What `dynamo-backup jobs` reads that moto gets wrong: moto has ImportTable and DescribeImport
but no ListImports (the client gets a 500, retried for about 20 s), and names an export
`...:table/<the table's whole ARN>/import/ID` where AWS says `<table ARN>/export/ID`."""

from __future__ import annotations

from typing import Any


def patch() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.table_export import TableExport
    from moto.dynamodb.responses import DynamoHandler

    if hasattr(DynamoHandler, "list_imports"):
        return

    def list_imports(self: Any) -> ActionResult:
        """ImportSummary's fields that moto keeps (it has no start or end time)."""
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

    DynamoHandler.list_imports = list_imports  # type: ignore[attr-defined]
    original = TableExport.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.arn = f"{self.table.table_arn}/export/{self.arn.rsplit('/', 1)[1]}"

    TableExport.__init__ = init  # type: ignore[method-assign]

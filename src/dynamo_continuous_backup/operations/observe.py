"""The thin shell of `jobs`: observe run folders in S3, DynamoDB's exports and imports and
Athena's query executions, and hand what it saw to the pure derivations of jobs.py.

Every listing is bounded: run folders from `since` on (run ids start with their UTC start time,
so the listing starts there), at most `limit` exports, imports and queries per source, newest
first. A source AWS refuses (no permission, an API the endpoint lacks) becomes a note."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..core import naming
from ..core.aws import Clients, read_object
from ..core.config import Config
from ..core.errors import AwsError, AwsNotFoundError
from .jobs import (
    STALE_SECONDS,
    Job,
    ObservedRun,
    athena_job,
    export_job,
    import_job,
    is_ours_import,
    is_ours_query,
    needs_segments,
    run_job,
)

log = logging.getLogger(__name__)

LIMIT = 100
THREADS = 8
IMPORTS = "@imports"
# Until the Athena helper's config keys land, their defaults: the workgroup queries run in and
# the database `athena-ddl` creates.


class JobObserver:
    def __init__(
        self,
        clients: Clients,
        config: Config,
        clock: Callable[[], float] = time.time,
        stale: float = STALE_SECONDS,
        limit: int = LIMIT,
    ) -> None:
        self.clients, self.config, self.clock, self.stale, self.limit = clients, config, clock, stale, limit
        self.bucket = config.firehose_delivery_bucket
        self.notes: list[str] = []  # the sources that could not be read, one line each

    @property
    def workgroup(self) -> str:
        return self.config.athena_workgroup

    @property
    def database(self) -> str:
        return self.config.athena_database

    def jobs(self, table: str | None, since: float) -> list[Job]:
        """Every job of `table` (None: of every table, and the Athena queries) started since `since`."""
        tables = [table] if table else self.tables()
        found = [j for t in self._each(self.runs, tables, since) for j in t]
        found += self._source("exports", lambda: [j for t in self._each(self.exports, tables, since) for j in t])
        found += self._source("imports", lambda: self.imports(table, since))
        if table is None:
            found += self._source("Athena queries", lambda: self.queries(since))
        return found

    def _each(self, read: Callable[[str, float], list[Job]], tables: list[str], since: float) -> Iterator[list[Job]]:
        with ThreadPoolExecutor(THREADS) as pool:
            yield from pool.map(lambda t: read(t, since), tables)

    def _source(self, what: str, read: Callable[[], list[Job]]) -> list[Job]:
        try:
            return read()
        except AwsError as exc:  # the other sources still count; the CLI exits 1 on a note
            self.notes.append(f"{what} not listed: {exc}")
            return []

    # -- backfill and checkpoint runs ------------------------------------------------------------

    def tables(self) -> list[str]:
        """The tables with a folder of runs (every protected table has its base there)."""
        root = f"{self.config.prefix}/{naming.SNAPSHOTS}/"
        pages = self.clients.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root, Delimiter="/"
        )
        return [p["Prefix"][len(root) : -1] for page in pages for p in page.get("CommonPrefixes", [])]

    def runs(self, table: str, since: float) -> list[Job]:
        prefix = naming.snapshots_prefix(self.config.prefix, table)
        first = prefix + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(since))
        folders: dict[str, dict[str, float]] = {}
        pages = self.clients.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, StartAfter=first
        )
        for page in pages:
            for o in page.get("Contents", []):
                run_id, _, name = o["Key"][len(prefix) :].partition("/")
                folders.setdefault(run_id, {})[name] = o["LastModified"].timestamp()
        now = self.clock()
        observed = [self._observe(table, prefix, run_id, names) for run_id, names in sorted(folders.items())]
        return [j for j in (run_job(r, now, self.stale) for r in observed) if j is not None]

    def run(self, table: str, run_id: str) -> Job | None:
        """One run's job, or None when its folder is empty or not a run's."""
        prefix = naming.snapshots_prefix(self.config.prefix, table)
        names: dict[str, float] = {}
        for page in self.clients.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{prefix}{run_id}/"
        ):
            names.update(
                {
                    o["Key"][len(prefix) + len(run_id) + 1 :]: o["LastModified"].timestamp()
                    for o in page.get("Contents", [])
                }
            )
        return run_job(self._observe(table, prefix, run_id, names), self.clock(), self.stale) if names else None

    def _observe(self, table: str, prefix: str, run_id: str, names: dict[str, float]) -> ObservedRun:
        def doc(name: str) -> dict[str, Any] | None:
            if name not in names:
                return None
            body = read_object(self.clients.s3, self.bucket, f"{prefix}{run_id}/{name}")
            return None if body is None else json.loads(body)  # type: ignore[no-any-return]

        run = ObservedRun(table, run_id, names, doc("run.json"), doc("manifest.json"), doc("cancel.json"))
        if not needs_segments(run):
            return run
        segments = sorted(n for n in names if n.startswith("checkpoints/segment-"))
        return replace(run, segments=tuple(d for d in map(doc, segments) if d is not None))

    # -- DynamoDB exports and imports -----------------------------------------------------------

    @functools.cached_property
    def _account(self) -> tuple[str, str]:
        identity = self.clients.sts.get_caller_identity()
        return identity["Arn"].split(":")[1], identity["Account"]

    def table_arn(self, table: str) -> str:
        """Built, not described: a deleted table's exports are still listed."""
        partition, account = self._account
        return f"arn:{partition}:dynamodb:{self.clients.region}:{account}:table/{table}"

    def exports(self, table: str, since: float) -> list[Job]:
        """The table's PITR exports into our bases' folders (DescribeExport each, at most `limit`)."""
        arns: list[str] = []
        token: str | None = None
        while len(arns) < self.limit:
            try:
                page = self.clients.dynamodb.list_exports(
                    TableArn=self.table_arn(table), MaxResults=25, **({"NextToken": token} if token else {})
                )
            except AwsNotFoundError:
                return []  # the table is gone: no export of it can run
            arns += [s["ExportArn"] for s in page.get("ExportSummaries", [])]
            token = page.get("NextToken")
            if not token:
                break
        root = f"{self.config.prefix}/{naming.SNAPSHOTS}/"
        described = [
            self.clients.dynamodb.describe_export(ExportArn=a)["ExportDescription"] for a in arns[: self.limit]
        ]
        ours = [
            d for d in described if d.get("S3Bucket") == self.bucket and str(d.get("S3Prefix", "")).startswith(root)
        ]
        jobs = [export_job(d, root) for d in ours]
        return [j for j in jobs if j.started is None or j.started >= since]

    def imports(self, table: str | None, since: float) -> list[Job]:
        """ImportTable jobs whose source is under PREFIX/@imports/ (restore --via-import), at most `limit`."""
        root = f"{self.config.prefix}/{IMPORTS}/"
        summaries: list[dict[str, Any]] = []
        token: str | None = None
        while len(summaries) < self.limit:
            page = self.clients.dynamodb.list_imports(PageSize=25, **({"NextToken": token} if token else {}))
            summaries += [s for s in page.get("ImportSummaryList", []) if is_ours_import(s, self.bucket, root)]
            token = page.get("NextToken")
            if not token:
                break
        describe = self.clients.dynamodb.describe_import  # the summary has no counts
        jobs = [
            import_job({**s, **describe(ImportArn=s["ImportArn"])["ImportTableDescription"]})
            for s in summaries[: self.limit]
        ]
        return [j for j in jobs if (table is None or j.table == table) and (j.started is None or j.started >= since)]

    # -- Athena ----------------------------------------------------------------------------------

    def queries(self, since: float) -> list[Job]:
        """The workgroup's newest `limit` executions that are ours (is_ours_query)."""
        athena = self.clients.get("athena")
        ids: list[str] = []
        token: str | None = None
        while len(ids) < self.limit:
            page = athena.list_query_executions(
                WorkGroup=self.workgroup, MaxResults=50, **({"NextToken": token} if token else {})
            )
            ids += page.get("QueryExecutionIds", [])
            token = page.get("NextToken")
            if not token:
                break
        executions = [self.execution(i) for i in ids[: self.limit]]
        jobs = [athena_job(e) for e in executions if self.ours(e)]
        return [j for j in jobs if j.started is None or j.started >= since]

    def execution(self, query_id: str) -> dict[str, Any]:
        # GetQueryExecution one by one: the embedded emulator has no BatchGetQueryExecution, and
        # `limit` bounds the calls.
        return self.clients.get("athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]  # type: ignore[no-any-return]

    def ours(self, execution: dict[str, Any]) -> bool:
        # results under the backup prefix, or under the configured output location, or run in our database
        if is_ours_query(execution, self.config.athena_results, self.database):
            return True
        return is_ours_query(execution, f"s3://{self.bucket}/{self.config.prefix}/", self.database)

"""The Athena call sequence: start a query in the configured workgroup, poll it with bounded
backoff until it ends, stop it on Ctrl-C or when the wait runs out, read small results."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import AwsError, QueryFailedError, WaitTimeoutError
from ..core.retry import wait_until

log = logging.getLogger(__name__)

# Athena queries take seconds to minutes: poll after 0.5 s, doubling up to every 10 s.
POLL_FIRST = 0.5
POLL_MAX = 10.0
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")
RESULT_PAGE = 1000  # GetQueryResults' largest page


@dataclass(frozen=True)
class Finished:
    query_id: str
    scanned_bytes: int


@dataclass(frozen=True)
class Results:
    columns: list[str]
    rows: list[tuple[str | None, ...]]
    truncated: bool = False


class AthenaRunner:
    """Runs one statement at a time in `athenaWorkgroup`, results to `athenaOutputLocation`;
    every wait is bounded by `waitTimeoutSeconds`."""

    def __init__(
        self,
        clients: Clients,
        config: Config,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.athena, self.config, self.sleep, self.clock = clients.athena, config, sleep, clock
        self.scanned_bytes = 0  # by every query this runner ran (what Athena bills)

    def run(self, sql: str, what: str, in_database: bool = True) -> Finished:
        """Start `sql` and wait for it to succeed; FAILED or CANCELLED raise QueryFailedError with
        Athena's reason. A wait that runs out, or Ctrl-C, stops the query before raising."""
        request: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.config.athena_workgroup,
            "ResultConfiguration": {"OutputLocation": self.config.athena_results},
        }
        if in_database:  # CREATE DATABASE runs before its database exists
            request["QueryExecutionContext"] = {"Catalog": "AwsDataCatalog", "Database": self.config.athena_database}
        query_id = self.athena.start_query_execution(**request)["QueryExecutionId"]
        log.info("athena query %s started: %s", query_id, what)
        try:
            execution = wait_until(
                lambda: self._ended(query_id),
                f"Athena query {query_id} ({what})",
                float(self.config.wait_timeout_seconds),
                POLL_FIRST,
                self.sleep,
                self.clock,
                max_interval=POLL_MAX,
            )
        except WaitTimeoutError as exc:
            self._stop(query_id)
            raise WaitTimeoutError(
                f"{exc}; the query was stopped: raise waitTimeoutSeconds (at most 3600) or use --engine duckdb"
            ) from None
        except KeyboardInterrupt:  # the user gave up: never leave the query running (and billing)
            self._stop(query_id)
            raise
        scanned = int((execution.get("Statistics") or {}).get("DataScannedInBytes") or 0)
        self.scanned_bytes += scanned
        status = execution["Status"]
        if status["State"] != "SUCCEEDED":
            raise QueryFailedError(
                f"Athena query {query_id} ({what}) ended {status['State']}: {reason(status)}",
                query_id,
                status["State"],
            )
        return Finished(query_id, scanned)

    def _ended(self, query_id: str) -> dict[str, Any] | None:
        execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        return execution if execution["Status"]["State"] in ENDED else None  # type: ignore[no-any-return]

    def _stop(self, query_id: str) -> None:
        try:
            self.athena.stop_query_execution(QueryExecutionId=query_id)
            log.warning("athena query %s stopped", query_id)
        except AwsError as exc:  # it may have ended meanwhile; the original error matters more
            log.warning("athena query %s could not be stopped: %s", query_id, exc)

    def results(self, query_id: str, limit: int | None = None) -> Results:
        """The rows of a finished SELECT (NULL as None), page by page; at most `limit` rows."""
        pages = self.athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": RESULT_PAGE}
        )
        columns: list[str] = []
        rows: list[tuple[str | None, ...]] = []
        first = True
        for page in pages:
            result = page["ResultSet"]
            if first:
                columns = [c.get("Name") or c.get("Label") or "" for c in result["ResultSetMetadata"]["ColumnInfo"]]
            for row in result["Rows"]:
                values = tuple(cell.get("VarCharValue") for cell in row["Data"])
                # A SELECT's first row repeats the column names (Athena's convention).
                if first and list(values) == columns:
                    first = False
                    continue
                first = False
                if limit is not None and len(rows) >= limit:
                    return Results(columns, rows, truncated=True)
                rows.append(values)
        return Results(columns, rows)

    def select(self, sql: str, what: str, limit: int | None = None) -> Results:
        return self.results(self.run(sql, what).query_id, limit)


def reason(status: dict[str, Any]) -> str:
    """Athena's reason for a query's end, as one line."""
    text = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage") or "no reason given"
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:297] + "..."

"""The Firehose delivery-stream quota: how many streams the region allows, how many exist, how
many more tables fit (each protected table has one). `estimate` and `provision --dry-run` print
the same line (`quota_line`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.config import Config as BotoConfig

from ..core.aws import Clients
from ..core.errors import AwsError
from .fleet import delivery_stream_names

log = logging.getLogger(__name__)

# "Quota for the number of Firehose streams per Region", Amazon Data Firehose Developer Guide,
# Quota (https://docs.aws.amazon.com/firehose/latest/dev/limits.html). Where the page lists a
# region twice (Canada), the lower figure; a region it does not list gets the lowest.
_5000 = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1")
_2000 = (
    "eu-central-1",
    "eu-west-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-2",
    "ap-south-1",
    "us-gov-west-1",
)
_500 = (
    "eu-west-3",
    "eu-south-1",
    "eu-north-1",
    "ap-east-1",
    "ap-northeast-3",
    "sa-east-1",
    "cn-north-1",
    "cn-northwest-1",
)
_500b = ("me-south-1", "us-gov-east-1", "af-south-1")
DEFAULT_LIMITS = {**dict.fromkeys(_5000, 5000), **dict.fromkeys(_2000, 2000), **dict.fromkeys(_500 + _500b, 500)}
LOWEST_LIMIT = 100  # eu-central-2, ap-south-2, ca-central-1, ca-west-1, ... and unlisted regions
# Service Quotas names the quota one of these (the console's name changed with the service's).
QUOTA_NAMES = frozenset(
    {"delivery streams", "firehose streams", "delivery streams per region", "firehose streams per region"}
)
# The quota is a nicety beside the estimate: one quick try, never botocore's minute of retries.
QUICK = BotoConfig(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10)


@dataclass(frozen=True)
class StreamQuota:
    used: int
    limit: int
    source: str  # "Service Quotas" or why the documented default was used

    @property
    def fit(self) -> int:
        return max(0, self.limit - self.used)

    def as_dict(self) -> dict[str, Any]:
        return {"used": self.used, "limit": self.limit, "source": self.source, "moreTablesFit": self.fit}


def quota_line(quota: StreamQuota) -> str:
    """The one line both commands print."""
    return (
        f"Firehose delivery streams: {quota.used} of {quota.limit} used (quota from {quota.source}); "
        f"{quota.fit} more tables fit"
    )


def default_limit(region: str) -> int:
    return DEFAULT_LIMITS.get(region, LOWEST_LIMIT)


def matching_quota(quotas: list[dict[str, Any]]) -> int | None:
    """The delivery-stream count quota among Service Quotas' answers for `firehose`, if any."""
    for quota in quotas:
        if str(quota.get("QuotaName", "")).strip().lower() in QUOTA_NAMES and "Value" in quota:
            return int(quota["Value"])
    return None


def stream_quota(clients: Clients, service_quotas: Any = None) -> StreamQuota:
    """The region's quota (Service Quotas' applied value, else its default value, else the
    documented default, saying which) and the delivery streams that exist."""
    used = len(delivery_stream_names(clients))
    sq = service_quotas or Clients(clients.region, clients.session, QUICK).get("service-quotas")
    why = "not in Service Quotas"
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):  # applied, then default
        try:
            limit = _listed(sq, operation)
        except AwsError as exc:
            log.info("Service Quotas unavailable: %s", exc)
            why = f"Service Quotas answered {exc.code or 'an error'}"
            continue
        if limit is not None:
            return StreamQuota(used, limit, "Service Quotas")
    return StreamQuota(used, default_limit(clients.region), f"the documented default for {clients.region}: {why}")


def _listed(sq: Any, operation: str) -> int | None:
    pages = sq.get_paginator(operation).paginate(ServiceCode="firehose")
    for page in pages:
        found = matching_quota(page.get("Quotas", []))
        if found is not None:
            return found
    return None

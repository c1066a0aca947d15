"""TEMPORARY stand-in for restore/statesql.py (the `sql` branch): the contract's signature with
a trivial body, so the Athena engine can be written against it. Deleted once statesql lands."""

from __future__ import annotations

from ..core.timeline import Window


def state_select(
    dialect: str,
    changes: str,
    base: str | None,
    key_names: tuple[str, ...],
    at: float | None,
    window: Window | None,
    where: str | None = None,
    only_key: str | None = None,
) -> str:
    """Rows (k, image, pointer); NOT the state at T: the newest line per Keys, for plumbing only."""
    until = f" AND ApproximateCreationDateTime <= {at!r}" if at is not None else ""
    rows = f"SELECT CAST(Keys AS varchar) AS k, NewImage AS image, oversizeS3Key AS pointer FROM {changes} c"
    return f"{rows} WHERE eventName <> 'REMOVE'{until}" + (f" AND ({where})" if where else "")

"""The hjson whitelist of provision_tables.py / deprovision_tables.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.config import read_hjson
from ..core.errors import ConfigError

_KEYS = {"provisionAll", "tableNames"}


@dataclass(frozen=True)
class Whitelist:
    provision_all: bool = False
    table_names: tuple[str, ...] = ()


def load_whitelist(path: str | Path) -> Whitelist:
    data = read_hjson(path, "whitelist")
    where = f"whitelist file {path}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected {{provisionAll: bool, tableNames: [..]}}")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}'; known keys: provisionAll, tableNames")
    provision_all = data.get("provisionAll", False)
    if not isinstance(provision_all, bool):
        raise ConfigError(f"{where}: key 'provisionAll' must be true or false, got {provision_all!r}")
    names = data.get("tableNames", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{where}: key 'tableNames' must be a list of table names")
    if not provision_all and not names:
        raise ConfigError(f"{where}: lists no tables; add tableNames or set provisionAll: true")
    return Whitelist(provision_all, tuple(dict.fromkeys(names)))

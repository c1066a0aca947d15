"""Which tables are covered: include regex, exclude regex, and an optional hook.

Both regexes match at the start of the name only (Python `re.match`), as the original
awslabs tool did, so a migrated `prod-` keeps covering `prod-orders`; end with `$` for an
exact name.

At deploy/provision time a broken filter is a ConfigError (strict). Inside Lambda the same
problem fails OPEN: the table is backed up and a warning is logged, as the original promised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..core.config import Config, load_hook
from ..core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptIn:
    include: str = ".*"
    exclude: str | None = None
    hook: str | None = None
    strict: bool = True

    @classmethod
    def from_config(cls, config: Config, strict: bool = True) -> OptIn:
        return cls(config.table_name_match_regex, config.table_name_exclude_regex, config.opt_in_hook, strict)

    def covers(self, table: str) -> bool:
        """True when the include regex, the exclude regex and the hook all say yes."""
        try:
            if not re.match(self.include, table):
                return False
            if self.exclude and re.match(self.exclude, table):
                return False
            return not self.hook or bool(_hook(self.hook)(table))
        except Exception as exc:  # a user's regex or hook: any failure is theirs to fix
            if self.strict:
                raise ConfigError(f"opt-in filter failed for table {table!r}: {exc}") from None
            log.warning("opt-in filter failed for table %s, backing it up anyway: %s", table, exc)
            return True


def _hook(spec: str) -> Callable[[str], bool]:
    return load_hook(spec, "optInHook")

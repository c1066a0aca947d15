"""The forwarder handler refuses an event of unknown shape before any AWS call."""

from __future__ import annotations

from typing import Any

import pytest

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.errors import UserInputError


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, {"Records": [{"eventID": "1"}]}, []])
def test_unknown_event_shape_is_one_clear_error(event: Any) -> None:
    with pytest.raises(UserInputError, match="forwarder:"):
        forwarder.handler(event, None, None)

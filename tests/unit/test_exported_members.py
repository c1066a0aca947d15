"""The package's public surface is `__all__`, pinned here so that changing it is deliberate."""

from __future__ import annotations

import pytest

import dynamo_continuous_backup as package

# Adding or removing a public name is a change of contract: update this list in the same change.
ERRORS = ["BackupError", "ConfigError", "NotFoundError", "NotProtectableError", "UserInputError"]
PUBLIC = sorted([*ERRORS, "Config", "load_config", "Provisioner", "Result", "__version__"])


def test_the_public_surface_is_pinned() -> None:
    assert package.__all__ == PUBLIC


def test_every_exported_name_resolves_to_the_package_s_own() -> None:
    for name in package.__all__:
        member = getattr(package, name)
        assert member is not None, name
        if name != "__version__":
            assert member.__module__.startswith(f"{package.__name__}."), name


def test_dir_lists_exactly_the_public_names() -> None:
    assert dir(package) == package.__all__


def test_a_private_name_is_not_reachable_from_the_root() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Backfill'"):
        package.Backfill  # noqa: B018 - the lookup itself is the test

"""Opt-in hooks that tests name in config (`tests.hooks_for_tests:...`)."""


def only_even_length(table: str) -> bool:
    return len(table) % 2 == 0


def broken(table: str) -> bool:
    raise RuntimeError("hook is broken")

"""The dependency rule of the package layout (docs/architecture.md, The dependency rule): each job's subpackage imports
only the ones below it, the handlers reach only what Lambda has, and there are no cycles."""

from __future__ import annotations

from ..importgraph import HANDLERS, PACKAGE, all_modules, external_imports_of, imports_of, reachable_modules

# Subpackage -> the subpackages it may import (besides itself). cli and local sit on top.
ALLOWED = {
    "core": set(),
    "capture": {"core"},
    "snapshot": {"core"},
    "provisioning": {"core", "snapshot"},
    "install": {"core", "snapshot", "provisioning"},
    "restore": {"core"},
    "explore": {"core", "restore"},
    "athena": {"core", "restore", "explore"},
    "local": {"core"},
    "operations": {"core"},
    "cli": {
        "core",
        "capture",
        "snapshot",
        "provisioning",
        "install",
        "restore",
        "explore",
        "athena",
        "local",
        "operations",
    },
    # the two Lambda entry points: parse the event, call the library, shape the response
    "forwarder": {"core", "capture"},
    "ensure_backup": {"core", "snapshot", "provisioning"},
}
# What neither Lambda's Python nor the zip has (hjson and orjson are in the zip): CLI only.
CLI_ONLY = {"duckdb", "tqdm", "shortuuid", "moto", "pytest", "sqlglot"}


def _part(module: str) -> str:
    """The subpackage (or top-level module) a dotted module name belongs to."""
    rest = module.removeprefix(PACKAGE).lstrip(".")
    return rest.split(".")[0] if rest else ""


def _edges() -> list[tuple[str, str]]:
    return [(m, dep) for m in all_modules() for dep in sorted(imports_of(m))]


def test_every_module_belongs_to_a_known_part() -> None:
    unknown = {m for m in all_modules() if _part(m) not in ALLOWED and m != PACKAGE}
    assert unknown == set(), "add the new subpackage to ALLOWED (and to docs/architecture.md)"


def test_subpackages_import_only_the_layers_below_them() -> None:
    wrong = []
    for module, dep in _edges():
        src, dst = _part(module), _part(dep)
        if module == PACKAGE or src == dst or dst == "":  # the package root: __version__ only
            continue
        if dst not in ALLOWED[src]:
            wrong.append(f"{module} -> {dep}")
    assert wrong == []


def test_only_the_package_root_uses_the_package_root() -> None:
    # `from .. import __version__` is the one allowed use of the root; it must stay tiny, or
    # every module would load the whole package with it.
    users = {m for m, dep in _edges() if dep == PACKAGE}
    assert users <= {f"{PACKAGE}.cli.main"}


def test_the_handlers_reach_nothing_cli_only() -> None:
    for handler in HANDLERS:
        reached = reachable_modules((handler,))
        parts = {_part(m) for m in reached} - {""}
        assert parts <= ALLOWED[_part(handler)] | {_part(handler)}, handler
        used = set().union(*(external_imports_of(m) for m in reached))
        assert used & CLI_ONLY == set(), f"{handler} reaches {used & CLI_ONLY}"


def test_there_are_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set(imports_of(m)) - {m} for m in all_modules()}
    for module in graph:  # a package importing its own submodules (re-exports) is no cycle
        graph[module] = {d for d in graph[module] if not d.startswith(module + ".")}
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        path.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)

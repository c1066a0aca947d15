"""The package's import graph read from the source (every import, also those inside
functions), for the tests of what the handlers reach and of the dependency rule."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "dynamo_continuous_backup"
SRC = Path(__file__).resolve().parent.parent / "src"
HANDLERS = (f"{PACKAGE}.ensure_backup", f"{PACKAGE}.forwarder")


def all_modules() -> list[str]:
    """Every module of the package, dotted."""
    root = SRC / PACKAGE
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imports_of(module: str) -> set[str]:
    """Every module of ours `module` imports, at the top or inside a function."""
    path = SRC / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SRC / module.replace(".", "/") / "__init__.py"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(path):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith(PACKAGE):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
    return found


def _exists(module: str) -> bool:
    base = SRC / module.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def reachable_modules(roots: tuple[str, ...] = HANDLERS) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c imports a and a.b
        todo += sorted(imports_of(module) - seen)
    return seen


def external_imports_of(module: str) -> set[str]:
    """Top-level names of the packages outside ours that `module` imports."""
    path = SRC / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SRC / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()
    for node in _runtime_nodes(path):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    return found - {PACKAGE}


def _runtime_nodes(path: Path) -> list[ast.AST]:
    """Every node of the file but those under `if TYPE_CHECKING:` (never imported at run time)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped |= {id(n) for n in ast.walk(node)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]

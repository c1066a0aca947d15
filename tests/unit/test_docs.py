"""The docs a newcomer navigates: every relative link in README.md, SECURITY.md and docs/*.md
resolves (the file exists; an #anchor names a heading there), README stays short, and its
configuration table lists exactly the keys the config accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.config import _KEYS

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 250
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked (links there are examples)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower-cased, without punctuation, spaces as '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: name, name-1, name-2 ...
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(path: Path) -> list[str]:
    out = []
    for line in prose(path.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)
        out += LINK.findall(line)
    return [t for t in out if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: ...


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    broken, name = [], path.relative_to(root)
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{name}: {target} (no heading '{anchor}' in {dest.name})")
    return broken


@pytest.mark.parametrize("path", docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_docs_link_to_each_other() -> None:
    # the check above must see links at all: a parser that finds none would pass everything
    assert "docs/restore.md" in links(ROOT / "README.md")
    assert any("#" in t for p in docs() for t in links(p))


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Large tables: which engine when\n", encoding="utf-8")
    page.write_text(
        "# Page\n\n[ok](other.md#large-tables-which-engine-when) [self](#page) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n[gone](missing.md) [bad anchor](other.md#nowhere) [web](https://x.y/z)\n",
        encoding="utf-8",
    )
    assert broken_links(page, tmp_path) == [
        "page.md: missing.md (no such file)",
        "page.md: other.md#nowhere (no heading 'nowhere' in other.md)",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Large tables: which engine when", "large-tables-which-engine-when"),
        (
            "4. Consistency model of a restore: generations, bases, checkpoints",
            "4-consistency-model-of-a-restore-generations-bases-checkpoints",
        ),
        ("Restoring a slice: `--where`", "restoring-a-slice---where"),
        ("Athena's documented costs", "athenas-documented-costs"),
    ],
)
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_readme_stays_short() -> None:
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_readme_configuration_table_lists_every_key() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    assert rows == set(_KEYS), f"missing: {sorted(set(_KEYS) - rows)}; unknown: {sorted(rows - set(_KEYS))}"

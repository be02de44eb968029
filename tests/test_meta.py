"""Exhaustiveness checks: the README documents every setting, the ruleset covers every spec clock."""

from __future__ import annotations

import ast
from pathlib import Path

from pathway.events import EVENT_TYPES
from pathway.ruleset import load_ruleset
from services.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SPEC_CLOCKS = {
    "COORD-MSCC",
    "COORD-METS",
    "STEROID-MSCC",
    "MRI-MSCC",
    "MRI-METS",
    "PLAN-METS",
    "PLAN-MSCC",
    "RT-24H",
    "SURGERY",
    "CWT-FDS",
    "CWT-31",
    "CWT-62",
}


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    missing = [name for name in Settings.model_fields if f"CORDWATCH_{name.upper()}" not in readme]

    assert missing == []


def test_the_readme_configuration_table_lists_no_setting_that_is_gone() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `CORDWATCH_")]

    listed = [line.split("`")[1].removeprefix("CORDWATCH_").lower() for line in rows]

    assert sorted(listed) == sorted(Settings.model_fields)


def test_the_readme_names_every_event_type() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert [t for t in EVENT_TYPES if f"`{t}`" not in readme] == []


def test_the_ruleset_has_exactly_the_clocks_of_the_spec() -> None:
    ruleset = load_ruleset("nice-ng234-2023", 1)

    assert {rule.id for rule in ruleset.clocks} == SPEC_CLOCKS


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in tests/factories.py and fixtures in a conftest.py: a test module
    imported as a library runs its tests' imports and module state in whoever imports it."""
    found: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    found.add((path.relative_to(ROOT).as_posix(), name))

    assert found == set()

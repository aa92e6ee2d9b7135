"""Where code may reach: the forecasting maths is pure (no database, no Flask, no
services), and the web layer reaches forecasting only through services. Read from
the source files' import statements, so a new module is checked as soon as it exists."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORECASTING = REPO / "oms_core" / "forecasting"
# What the maths must not depend on: the database, the app, and the layers that use them.
IMPURE = ("flask", "flask_sqlalchemy", "sqlalchemy", "oms_core.db", "oms_core.models",
          "oms_core.runtime", "oms_core.services", "oms_core.setup", "oms_web")


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved against
    `package`, the dotted package the file is in)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def reaches(names: set[str], prefixes) -> list[str]:
    return sorted(name for name in names for prefix in prefixes
                  if name == prefix or name.startswith(prefix + "."))


@pytest.mark.parametrize("path", sorted(FORECASTING.glob("*.py")), ids=lambda p: p.name)
def test_forecasting_is_pure_maths(path):
    assert reaches(imported_modules(path, "oms_core.forecasting"), IMPURE) == []


@pytest.mark.parametrize("path", sorted((REPO / "web").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_the_web_layer_reaches_forecasting_only_through_services(path):
    package = ".".join(["oms_web", *path.relative_to(REPO / "web").parent.parts])
    assert reaches(imported_modules(path, package), ["oms_core.forecasting"]) == []


def test_the_checks_see_what_they_forbid(tmp_path):
    """The import reader resolves relative imports, so neither check passes by not seeing."""
    sample = tmp_path / "sample.py"
    sample.write_text("from ..db import db\nfrom . import periods\nimport flask\n"
                      "from oms_core.forecasting.runs import latest\n")
    names = imported_modules(sample, "oms_core.forecasting")
    assert reaches(names, IMPURE) == ["flask", "oms_core.db", "oms_core.db.db"]
    assert reaches(names, ["oms_core.forecasting"]) == [
        "oms_core.forecasting", "oms_core.forecasting.periods", "oms_core.forecasting.runs",
        "oms_core.forecasting.runs.latest"]

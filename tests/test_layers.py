"""Where code may reach (docs/architecture.md, "Layers"): imports point one way,
plugins -> oms_core <- web; the forecasting maths is pure (no database, no Flask, no
services); the web layer reaches forecasting only through services and writes no
SQL. Read from the source files' import statements, so a new module is checked as
soon as it exists."""
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


def _package_of(path: Path, root: Path, name: str) -> str:
    return ".".join([name, *path.relative_to(root).parent.parts])


# The test kit mounts the whole extension for plugin authors' tests: the one place
# in oms_core that may reach the web layer.
CORE_FILES = sorted(p for p in (REPO / "oms_core").rglob("*.py") if "testing" not in p.parts)


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_core_never_imports_the_web_layer(path):
    package = _package_of(path, REPO / "oms_core", "oms_core")
    web_only = ["oms_web", "flask_login", "flask_wtf", "flask_htmx"]
    assert reaches(imported_modules(path, package), web_only) == []


PLUGIN_FILES = sorted((REPO / "plugins").rglob("*.py"))


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_never_import_the_web_layer(path):
    assert reaches(imported_modules(path, "plugin"), ["oms_web"]) == []


@pytest.mark.parametrize("path", sorted((REPO / "web").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_the_web_layer_writes_no_sql(path):
    package = _package_of(path, REPO / "web", "oms_web")
    assert reaches(imported_modules(path, package), ["sqlalchemy", "oms_core.db"]) == []


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

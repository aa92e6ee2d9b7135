"""Fake plugin distributions for in-process discovery tests.

A `*.dist-info` directory with an `entry_points.txt`, put on sys.path, is a real
installed distribution as far as importlib.metadata is concerned: the OMS finds
it through its entry-point group exactly as it finds a pip-installed plugin,
without the cost of a pip install.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from oms_core.constants import ENTRY_POINT_GROUP


class FakeDistributions:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.monkeypatch = monkeypatch
        self.modules: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(root))

    def add(self, dist_name: str, entry_point: str, module: str, source: str,
            version: str = "1.2.3") -> None:
        """Install distribution `dist_name` whose entry point `entry_point` (group
        "oms") is the module `module` with `source`."""
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{entry_point} = {module}\n")
        self.modules.append(module)

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    dists = FakeDistributions(tmp_path / "site", monkeypatch)
    yield dists
    dists.cleanup()

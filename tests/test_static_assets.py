"""The vendored htmx is the one recorded (version and sha256) and pages load it
from the package, never from a CDN."""
from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from pathlib import Path

import pytest

import oms_web

REPO = Path(__file__).resolve().parent.parent
STATIC = files(oms_web) / "static"
PINNED_VERSION = "2.0.11"


def vendored_row(name: str) -> list[str]:
    """The VENDORED.md table row of a file: | file | source | version | sha256 |"""
    for line in (STATIC / "VENDORED.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"{name} is not recorded in VENDORED.md")


def test_htmx_matches_its_recorded_sha256():
    _, _, version, sha256 = vendored_row("htmx.min.js")
    assert version == PINNED_VERSION
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    assert hashlib.sha256((STATIC / "htmx.min.js").read_bytes()).hexdigest() == sha256


def test_htmx_is_the_pinned_2_0_release():
    source = (STATIC / "htmx.min.js").read_text()
    assert f'version:"{PINNED_VERSION}"' in source


def all_templates() -> list[Path]:
    return sorted(p for folder in (REPO / "templates", REPO / "demo") if folder.exists()
                  for p in folder.rglob("*.html"))


REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)


@pytest.mark.parametrize("template", all_templates(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_template_loads_a_script_or_stylesheet_from_another_host(template):
    assert not REMOTE_ASSET.search(template.read_text())


def test_base_template_loads_htmx_from_the_package():
    base = (files("oms_web.templates") / "oms" / "base.html").read_text()
    assert "url_for('oms_static.static', filename='htmx.min.js')" in base


def test_pages_serve_the_vendored_htmx(app, client):
    page = client.get("/oms/admin/login").get_data(as_text=True)
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    htmx = [src for src in sources if src.split("?")[0].endswith("/htmx.min.js")]
    assert htmx == ["/oms/static/htmx.min.js"], sources
    response = client.get(htmx[0])
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "htmx.min.js").read_bytes()
    assert "javascript" in response.mimetype

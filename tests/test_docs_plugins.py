"""docs/plugins.md stays true: its complete examples are the scaffold's output
(each block after a `<!-- scaffold: KIND NAME PATH -->` line must equal that file
as `flask oms new-plugin` writes it), its other Python blocks run, its hooks are
real ones, and it names every hook and every normalised tracking status.

After changing a scaffold template, refresh the doc's copies with
`.venv/bin/python tests/test_docs_plugins.py --write`.
"""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from oms_core import hookspecs
from oms_core.plugins import load_plugins
from oms_core.protocols import TRACKING_STATUSES
from oms_core.scaffold import plugin_names, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
# A fenced block, and the scaffold marker line right before it, if any.
BLOCK = re.compile(r"(?:<!-- scaffold: (\w+) ([\w-]+) (\S+) -->\n)?```(\w*)\n(.*?)```", re.S)


def blocks(text: str):
    """(scaffold source or None, language, code) of every fenced block."""
    for match in BLOCK.finditer(text):
        kind, name, path, language, code = match.groups()
        yield ((kind, name, path) if kind else None), language, code


def scaffold_file(kind: str, name: str, path: str) -> str:
    return render(kind, plugin_names(name))[path]


def refresh(text: str) -> str:
    """The doc with every scaffold block replaced by the scaffold's output."""
    def fill(match):
        kind, name, path, language, _ = match.groups()
        if not kind:
            return match.group(0)
        return f"<!-- scaffold: {kind} {name} {path} -->\n```{language}\n{scaffold_file(kind, name, path)}```"
    return BLOCK.sub(fill, text)


def test_the_complete_examples_are_the_scaffolds_output():
    text = DOC.read_text()
    sources = [source for source, _, _ in blocks(text) if source]
    assert {kind for kind, _, _ in sources} == {"carrier", "gateway"}
    assert any(path.startswith("tests/") for _, _, path in sources)
    for (kind, name, path), _, code in ((s, lang, code) for s, lang, code in blocks(text) if s):
        assert code == scaffold_file(kind, name, path), (
            f"docs/plugins.md's copy of {path} ({kind} {name}) differs from the scaffold's: "
            "run `.venv/bin/python tests/test_docs_plugins.py --write`")


def test_every_other_python_block_runs_and_its_hooks_are_valid():
    namespace: dict = {"__name__": "plugins_doc"}
    ran = 0
    for source, language, code in blocks(DOC.read_text()):
        if language == "python" and source is None:
            exec(compile(code, f"{DOC}:block", "exec"), namespace)
            ran += 1
    assert ran >= 4
    module = types.ModuleType("plugins_doc")
    module.__dict__.update(namespace)
    registry = load_plugins(extra_plugins=[module], use_entry_points=False)  # invalid hooks raise here
    hooks = {caller.name for caller in registry.pm.get_hookcallers(module)}
    assert {"on_order_status_changed", "admin_menu_items", "order_page_panels", "register_commands"} <= hooks


def test_it_names_every_hook_and_every_tracking_status():
    text = DOC.read_text()
    for name in (n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "flask_oms_spec")):
        assert f"`{name}(" in text, f"hook {name} is not in docs/plugins.md"
    table = text.split("### Tracking statuses", 1)[1].split("###", 1)[0]
    for status in TRACKING_STATUSES:
        assert f"| `{status}` |" in table


@pytest.mark.parametrize("key", ["OMS_PLUGINS", "OMS_PLUGIN_<ID>_<NAME>", "required_settings", "webhook_auth",
                                 "OMS_DISABLED_PLUGINS", "OMS_WEBHOOK_PREFIX", "flask oms new-plugin",
                                 "oms_config", "run_worker_once", "post_signed_webhook"])
def test_it_documents(key):
    assert key in DOC.read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DOC.write_text(refresh(DOC.read_text()))

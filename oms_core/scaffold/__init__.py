"""`flask oms new-plugin`: write a ready plugin distribution from the templates in
`templates/` (docs/plugins.md, "Scaffold").

A distribution `flask-oms-<name>` holds the module `flask_oms_<name>` (a working
carrier, payment gateway or forecaster, registered through the entry point
`<name_with_underscores>` in the group `flask_oms`), a README, and tests written
with the test kit that pass as generated once it is installed with its `test` extra.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from .. import __version__, default_plugins
from ..constants import DISTRIBUTION_NAME, ENTRY_POINT_GROUP, PLUGIN_DISTRIBUTION_PREFIX
from ..errors import ValidationError
from ..plugin_settings import ENVIRONMENT_PREFIX

KINDS = ("carrier", "gateway", "forecaster")
NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_NAME_LENGTH = 30  # the generated code stays within 79 columns
KIND_WORDS = {"carrier": "carrier", "gateway": "payment gateway", "forecaster": "demand forecaster"}


@dataclass(frozen=True)
class PluginNames:
    """Every name of one plugin, from the slug its author chose."""

    slug: str  # harbour-post

    @property
    def distribution(self) -> str:
        return PLUGIN_DISTRIBUTION_PREFIX + self.slug  # flask-oms-harbour-post

    @property
    def module(self) -> str:
        return self.distribution.replace("-", "_")  # flask_oms_harbour_post

    @property
    def object_id(self) -> str:
        """The id of what it registers, and the name of its entry point."""
        return self.slug.replace("-", "_")  # harbour_post

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.slug.split("-"))  # HarbourPost

    @property
    def label(self) -> str:
        return " ".join(part.capitalize() for part in self.slug.split("-"))  # Harbour Post


def plugin_names(name: str) -> PluginNames:
    """Check the name an author typed: a slug of lower-case words joined by hyphens
    (underscores are taken as hyphens, a leading flask-oms- is dropped)."""
    slug = name.strip().lower().replace("_", "-")
    if slug.startswith(PLUGIN_DISTRIBUTION_PREFIX):
        slug = slug[len(PLUGIN_DISTRIBUTION_PREFIX):]
    if not NAME.fullmatch(slug) or len(slug) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"The plugin name {name!r} must be lower-case letters and digits in words joined by "
            f"hyphens, starting with a letter, at most {MAX_NAME_LENGTH} characters: e.g. harbour-post.")
    return PluginNames(slug)


def render(kind: str, names: PluginNames) -> dict[str, str]:
    """The distribution's files: relative path -> text."""
    if kind not in KINDS:
        raise ValidationError(f"The kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    values = {
        "distribution": names.distribution, "module": names.module, "object_id": names.object_id,
        "class_name": names.class_name, "label": names.label, "kind_words": KIND_WORDS[kind],
        "entry_point_group": ENTRY_POINT_GROUP, "core": DISTRIBUTION_NAME, "core_version": __version__,
        "environment_prefix": f"{ENVIRONMENT_PREFIX}{names.object_id.upper()}_",
        "host": f"{names.slug}.example",
    }
    templates = resources.files(__name__) / "templates"

    def fill(folder: str, template: str) -> str:
        return Template((templates / folder / template).read_text(encoding="utf-8")).substitute(values)

    return {
        "pyproject.toml": fill("common", "pyproject.toml.tmpl"),
        "README.md": fill(kind, "README.md.tmpl"),
        f"{names.module}/__init__.py": fill(kind, "module.py.tmpl"),
        f"tests/test_{names.object_id}.py": fill(kind, "test.py.tmpl"),
    }


def taken_names(registry) -> set[str]:
    """Entry-point names and object ids a new plugin must not reuse: start-up
    refuses a second plugin or object with one of them."""
    return ({info.name for info in registry.plugins()} | set(default_plugins.MODULES)
            | set(registry.gateways) | set(registry.carriers) | set(registry.forecasters))


def write(kind: str, names: PluginNames, directory: Path, *, taken: set[str] = frozenset()) -> Path:
    """Write the distribution into `directory`/flask-oms-<name>; refuses a name in
    `taken` and a folder that exists."""
    if names.object_id in taken:
        raise ValidationError(f"'{names.object_id}' is taken by an installed plugin or what one "
                              "registers: pick another name.")
    files = render(kind, names)
    root = Path(directory) / names.distribution
    try:
        root.mkdir(parents=True)
    except FileExistsError:
        raise ValidationError(f"{root} exists already: nothing was written. "
                              "Pick another name or folder.") from None
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root

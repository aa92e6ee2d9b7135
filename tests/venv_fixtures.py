"""Session fixtures for the packaging tests: the OMS wheel built from the working
tree, a wheelhouse of its dependencies, and a fresh virtualenv (no system site
packages) with the wheel installed.

The wheel is built from a copy of the sources, so the build leaves nothing in the
repository (the editable install lives in its build/ folder). Installs into the
fresh virtualenv use only the wheelhouse (--no-index): the dependencies come from
pip's cache or the index once per session, and a stray project of the same name on
an index can never replace the one under test.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What the OMS distribution is built from (tests and plugins are not part of it).
SOURCE_ITEMS = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE",
                "oms_core", "web", "templates", "demo")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
TIMEOUT = 300

MOUNT_SECTION = "## Mounting the OMS in your Flask app"


def readme_mount_section() -> tuple[list[str], str]:
    """What the README's "mount in your app" section tells a shop to run: the words
    of its opening `pip install` line, and its host application, verbatim."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(MOUNT_SECTION):].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    (first_kind, first), python = blocks[0], next(code for kind, code in blocks if kind == "python")
    assert first_kind == "sh", "the section must start with the install command"
    command = first.splitlines()[0].split("#")[0].split()
    assert command[:2] == ["pip", "install"], f"the section starts with {first.splitlines()[0]!r}"
    return command[2:], python


# A host application exactly as the README tells a shop to write it.
_, HOST_APP = readme_mount_section()


def clean_env(**extra) -> dict:
    """The environment for commands in the fresh virtualenv: nothing that would
    point Python at the repository or at the test runner's virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "FLASK_APP")}
    env.update(extra)
    return env


def run(args, *, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def copy_sources(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in SOURCE_ITEMS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORE)
        elif source.exists():
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="session")
def oms_wheel(tmp_path_factory) -> Path:
    """The OMS wheel, built once per session from the working tree."""
    work = tmp_path_factory.mktemp("oms_wheel")
    source = copy_sources(work / "src")
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", dist, source],
        cwd=work)
    [wheel] = dist.glob("flask_oms-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory, oms_wheel) -> Path:
    """The OMS wheel, its dependencies with those of its `testing` extra (what a
    plugin's tests need), and the build backend plugins need."""
    house = tmp_path_factory.mktemp("wheelhouse")
    shutil.copy2(oms_wheel, house)
    run([sys.executable, "-m", "pip", "wheel", "-q", "-w", house, f"{oms_wheel}[testing]"], cwd=house)
    run([sys.executable, "-m", "pip", "download", "-q", "-d", house, "setuptools>=68", "wheel"],
        cwd=house)
    return house


@dataclass
class Venv:
    root: Path
    wheelhouse: Path
    workdir: Path  # where commands run: never the repository, so it cannot be imported

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args, check=True, cwd=None, **env) -> subprocess.CompletedProcess:
        return run(args, cwd=cwd or self.workdir, env=clean_env(**env), check=check)

    def pip_install(self, *args) -> subprocess.CompletedProcess:
        return self.run(self.python, "-m", "pip", "install", "-q", "--no-index",
                        "--find-links", self.wheelhouse, *args)

    def build_wheel(self, source: Path, dist: Path) -> Path:
        """Build a distribution's wheel, its build backend from the wheelhouse."""
        self.run(self.python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                 "--find-links", self.wheelhouse, "-w", dist, source)
        [wheel] = dist.glob("*.whl")
        return wheel

    def installed(self) -> set[str]:
        """Names of the distributions installed, normalised (lower case, dashes)."""
        listed = self.run(self.python, "-m", "pip", "list", "--disable-pip-version-check",
                          "--format", "json").stdout
        return {item["name"].lower().replace("_", "-") for item in json.loads(listed)}

    def flask(self, app_file: Path, *args, check=True, **env) -> subprocess.CompletedProcess:
        return self.run(self.root / "bin" / "flask", "--app", app_file, *args, check=check, **env)

    def tiny_app(self, database_url: str | None = None) -> tuple[Path, dict]:
        """Write the README's host app as `yourapp.py`; returns its path and the
        environment its commands need (the README reads SECRET_KEY and DATABASE_URL)."""
        folder = self.workdir / "host"
        folder.mkdir(exist_ok=True)
        app_file = folder / "yourapp.py"
        app_file.write_text(HOST_APP)
        url = database_url or f"sqlite:///{folder / 'shop.sqlite3'}"
        return app_file, {"SECRET_KEY": "host-app-secret", "DATABASE_URL": url}


@pytest.fixture(scope="session")
def oms_venv(tmp_path_factory, wheelhouse, oms_wheel) -> Venv:
    """A fresh virtualenv (no system site packages) where the README's install line
    ran, finding the OMS wheel built from the working tree (no index)."""
    work = tmp_path_factory.mktemp("oms_venv")
    root = work / "venv"
    run([sys.executable, "-m", "venv", root], cwd=work)
    venv = Venv(root=root, wheelhouse=wheelhouse, workdir=work)
    requirements, _ = readme_mount_section()
    venv.pip_install(*requirements)
    return venv

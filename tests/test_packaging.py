"""The install layout: top-level folders installed as `escalator.*` through setuptools `package-dir`."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_sub_package_of_the_folders_is_installed() -> None:
    """The package list is explicit (package-dir maps folders); a new sub-package must not be left out."""
    folders = {name.removeprefix("escalator."): folder for name, folder in SETUPTOOLS["package-dir"].items()}
    found = {"escalator"}
    for name, folder in folders.items():
        if name == "escalator":
            continue
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join(("escalator", name, *relative)))
    assert set(SETUPTOOLS["packages"]) == found


def test_the_checkout_links_give_tools_the_installed_names() -> None:
    """pytest and mypy run from a checkout: `escalator/<folder>` must point at the top-level folder."""
    for name, folder in SETUPTOOLS["package-dir"].items():
        if name == "escalator":
            continue
        link = ROOT / "escalator" / name.removeprefix("escalator.")
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve()


def test_the_distribution_name_is_not_the_taken_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "escalator-helpdesk", "`escalator` on PyPI is an unrelated package"
    assert project["scripts"] == {"escalator": "escalator.plugin.cli:main"}
    assert (ROOT / "LICENSE").is_file() and project["license"] == "Apache-2.0"

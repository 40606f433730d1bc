"""One version, pyproject.toml's: colorize.__version__ and middleware.__version__ (the web image has no colorize
package) both read it, from the file beside the package when it is there, else from the installed metadata."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

import colorize
import middleware

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
LOOKUPS = [pytest.param(colorize, id="colorize"), pytest.param(middleware, id="middleware")]


def test_both_packages_say_pyprojects_version():
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert colorize.__version__ == middleware.__version__ == declared


@pytest.mark.parametrize("package", LOOKUPS)
def test_the_file_beside_the_package_is_read_when_nothing_is_installed(package, tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "colorize"\nversion = "3.1.4"\n')
    assert package._version(tmp_path) == "3.1.4"
    assert package._version(tmp_path / "elsewhere") == "0+unknown"


@pytest.mark.parametrize("package", LOOKUPS)
def test_without_the_projects_own_file_the_installed_metadata_is_used(package, tmp_path, monkeypatch):
    monkeypatch.setattr(metadata, "version", lambda name: {"colorize": "2.7.1"}[name])
    assert package._version(tmp_path) == "2.7.1"  # no pyproject.toml: a wheel in site-packages
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "another"\nversion = "9.0"\n')
    assert package._version(tmp_path) == "2.7.1"  # some other project's file is not ours

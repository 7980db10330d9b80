"""The package installs what the checkout has, and README matches CI."""

import configparser
import pathlib
import re

import keras_seq

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_version_is_exposed():
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_seq.__version__)


def test_every_package_in_the_checkout_is_installed():
    options = _setup_cfg()["options"]
    listed = set(options["packages"].split())
    package_dir = dict(
        line.replace(" ", "").split("=")
        for line in options["package_dir"].strip().splitlines()
    )
    source_to_name = {v: k for k, v in package_dir.items()}
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[0] not in ("keras_seq", "zoo", "tools"):
            continue
        top, *rest = rel.parts
        name = ".".join([source_to_name.get(top, top), *rest])
        found.add(name)
    assert found == listed, (
        f"setup.cfg packages differ from the checkout: {found ^ listed}"
    )
    assert "tools" not in listed, "a top-level `tools` package clashes with PyPI's"


def test_readme_gives_the_test_command_that_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^\.venv/bin/python -m pytest.*$", ci, re.M).group(0)
    assert command in readme, f"README.md does not give CI's test command {command!r}"

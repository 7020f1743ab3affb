"""The test tiers of ``conftest.py`` name real files and registered markers."""

import tomllib
from pathlib import Path

from conftest import TIERS

TESTS = Path(__file__).resolve().parent


def test_every_tier_names_existing_test_files():
    named = [name for files in TIERS.values() for name in files]
    assert named and sorted(n for n in named if not (TESTS / n).is_file()) == []


def test_every_tier_is_a_registered_marker():
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    markers = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(TIERS) | {"slow"} <= markers

"""Shared test set-up: fast mode, fixed seeds, and the repository root."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("AVA_EDU_FAST", "1")

# On CI the property tests draw the same examples every run, so a red build always reproduces;
# locally they explore new examples each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state, so failures reproduce."""
    from ava_edu.course import seed_everything

    seed_everything(0)

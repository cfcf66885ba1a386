"""Shared test set-up: fast mode, fixed seeds, and the repository root."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("AVA_EDU_FAST", "1")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state, so failures reproduce."""
    from ava_edu.course import seed_everything

    seed_everything(0)

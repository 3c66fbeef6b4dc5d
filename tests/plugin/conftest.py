from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "scenarios" / "guide"


@pytest.fixture
def guide(pytester: pytest.Pytester) -> Path:
    """The shipped guide scenarios, copied into the pytester directory."""
    target = pytester.path / "scenarios"
    shutil.copytree(GUIDE, target / "guide")
    return target

"""Shared fixtures: where the real MOTChallenge data lives, and skips when it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mot17_root() -> Path:
    """``../shared/data/MOT17/train`` (real gt + DPM detections), or skip."""
    root = SHARED_DATA / "MOT17" / "train"
    if not root.is_dir():
        pytest.skip(f"real MOT17 data not found at {root} (it lives in ../shared/data beside the repo)")
    return root


@pytest.fixture(scope="session")
def mot17_mini_root() -> Path:
    """``../shared/data/MOT17-mini/train`` (39 real frames + gt), or skip."""
    root = SHARED_DATA / "MOT17-mini" / "train"
    if not root.is_dir():
        pytest.skip(f"real MOT17-mini frames not found at {root} (they live in ../shared/data beside the repo)")
    return root

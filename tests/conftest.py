"""Shared fixtures: every test gets its own empty $BLURKIT_DATA unless it asks for the photo fixture."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from blurkit.data import photos as photos_mod  # noqa: E402
from blurkit.paths import MANIFEST_DIR  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.mktemp("blurkit-data")
    monkeypatch.setenv("BLURKIT_DATA", str(root))
    return root


@pytest.fixture
def pip_photo_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real photo manifest reduced to the photos pip packages ship (fast to prepare, always present)."""
    raw = json.loads((MANIFEST_DIR / "photos.json").read_text())
    raw["photos"] = [p for p in raw["photos"] if p["source"].startswith("pip:")]
    path = tmp_path / "photos.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setattr(photos_mod, "PHOTO_MANIFEST", path)
    return path


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), float32 (512, 512, 3)."""
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest on one thread (no OpenMP spin-waiting on a busy 2-core machine); restored after.

    Use per module: ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

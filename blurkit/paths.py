"""Where blurkit keeps data: ``$BLURKIT_DATA`` (default ``~/.cache/blurkit``) and the repository folders."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MANIFEST_DIR = REPO_DIR / "data_manifests"
NOTEBOOK_DIR = REPO_DIR / "notebooks"
RESULTS_DIR = REPO_DIR / "results"


def data_root() -> Path:
    """The folder holding datasets and the prepared default data (``$BLURKIT_DATA``)."""
    env = os.environ.get("BLURKIT_DATA")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "blurkit"
    return root.resolve()

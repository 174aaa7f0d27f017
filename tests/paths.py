"""Where the repository's test media and samples are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "tests" / "media"
SAMPLES = REPO / "samples"

"""Where the event schemas and topics.yaml are: inside the installed package, or in a checkout.

The repository keeps ``schemas/`` and ``topics.yaml`` at its top level (the single source of
truth); a wheel carries copies under ``streams/_data/`` (pyproject.toml, force-include). An
editable install has no copies, so it falls back to the checkout's own files.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_data"
_CHECKOUT = Path(__file__).resolve().parent.parent


def data_path(name: str) -> Path:
    """``schemas`` or ``topics.yaml``, from the package when installed, else the checkout."""
    packaged = _PACKAGED / name
    return packaged if packaged.exists() else _CHECKOUT / name


SCHEMAS_DIR = data_path("schemas")
TOPICS_FILE = data_path("topics.yaml")
MODELS_FILE = data_path("models.yaml")
TRANSLATION_FILE = data_path("translation.yaml")

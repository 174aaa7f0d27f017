"""Declared, versioned speech models (catalog) and the package models they resolve to."""

from streams.models.catalog import (
    Catalog,
    ModelsFileError,
    ModelSpec,
    UnknownModelError,
    load_catalog,
    model_path,
)
from streams.models.packages import ModelIntegrityError, ModelUnavailableError

__all__ = [
    "Catalog",
    "ModelIntegrityError",
    "ModelSpec",
    "ModelUnavailableError",
    "ModelsFileError",
    "UnknownModelError",
    "load_catalog",
    "model_path",
]

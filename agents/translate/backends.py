"""What every translation backend offers, and the helpers they share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable


class TranslationUnavailable(RuntimeError):
    """A backend or model that cannot be used (missing, corrupt, not installed); the message
    says why and names the path or program, so a job can fail with it as its reason."""


@runtime_checkable
class Translator(Protocol):
    """Translates texts for one (source, target) language pair."""

    @property
    def name(self) -> str:
        """The model (or rule set) that makes the translations."""
        ...

    @property
    def version(self) -> str:
        """The library's and model's versions: results name what made them."""
        ...

    def translate(self, texts: Sequence[str]) -> list[str]:
        """One translation per text, in order; a blank text gives an empty one."""
        ...


def translate_nonblank(
    texts: Sequence[str], translate: Callable[[list[str]], list[str]]
) -> list[str]:
    """Calls ``translate`` on the texts that have words only (models invent text for an empty
    input), each flattened to one line (a cue's line breaks are layout, not meaning), and puts
    the results back in place; blank texts give ''. Checks the backend kept the batch's length."""
    keep = [i for i, text in enumerate(texts) if text.strip()]
    batch = [" ".join(texts[i].split()) for i in keep]
    done = translate(batch) if batch else []
    if len(done) != len(batch):
        raise RuntimeError(f"translation returned {len(done)} texts for {len(batch)}")
    out = [""] * len(texts)
    for i, text in zip(keep, done, strict=True):
        out[i] = text.strip()
    return out


def require_dir(path: Path, what: str) -> Path:
    """The model directory, or TranslationUnavailable saying it is missing."""
    if not path.is_dir():
        raise TranslationUnavailable(
            f"{what} directory {path} does not exist (models are not downloaded at run time: "
            "put the model there, or fix translation.yaml)"
        )
    return path


def fingerprint(path: Path) -> str:
    """A short, cheap identity for a model directory: its config and every file's name and
    size (hashing gigabytes of weights at each load would cost seconds)."""
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path)}:{item.stat().st_size}\n".encode())
        if item.name == "config.json":
            digest.update(item.read_bytes())
    return digest.hexdigest()[:12]

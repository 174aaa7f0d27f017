"""Which backend serves which language pair: ``translation.yaml``, parsed into frozen dataclasses.

The file maps ``<source>-<target>`` (ISO 639-1 codes, as jobs name languages) to a backend and its
settings; ``defaults`` applies to every pair that does not set a key itself. Model paths may be
relative to the file's own directory and may start with ``~``. Every mistake is reported with the
file and the pair it is in. A pair into English may name ``backend: whisper`` instead (``*-en``:
every source): that English is Whisper's translate task, run where the speech is transcribed,
so this stage only checks such entries and never serves them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from streams.job_options import ANY, WHISPER, WHISPER_PAIR

Backend = Literal["apertium", "transformers", "ctranslate2"]
BACKENDS: tuple[str, ...] = get_args(Backend)
_PAIR = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")
_INTS = ("threads", "batch_size", "beam_size", "max_length")
_STRS = ("mode", "device", "compute_type", "source_code", "target_code")
_KEYS = frozenset({"backend", "model", "tokenizer", *_INTS, *_STRS})


class TranslationConfigError(ValueError):
    """translation.yaml is unreadable or says something impossible; the message says where."""


@dataclass(frozen=True)
class PairConfig:
    """One language pair's backend and how to run it."""

    source: str
    target: str
    backend: Backend
    # transformers / ctranslate2: the model's directory; ctranslate2 also reads its tokenizer
    # there unless ``tokenizer`` names the original transformers directory.
    model: Path | None = None
    tokenizer: Path | None = None
    # apertium: the installed direction, e.g. eng-spa (``apertium -l``).
    mode: str | None = None
    device: str = "cpu"
    threads: int = 0  # 0: the library's default
    batch_size: int = 16
    beam_size: int = 4
    max_length: int = 256  # target tokens per text
    compute_type: str = "default"  # ctranslate2 only: int8, float16, ...
    # NLLB / M2M100: the tokenizer's language codes (eng_Latn / en); Marian models need none.
    source_code: str | None = None
    target_code: str | None = None


@dataclass(frozen=True)
class TranslationConfig:
    pairs: Mapping[tuple[str, str], PairConfig] = field(default_factory=dict)
    origin: str = "translation.yaml"
    whisper: frozenset[str] = frozenset()  # sources ("*": any) whose English Whisper makes

    def for_pair(self, source: str, target: str) -> PairConfig:
        """The pair's configuration, or TranslationConfigError naming the pairs there are."""
        exact = (source, target) in self.pairs
        if target == "en" and (source in self.whisper or (ANY in self.whisper and not exact)):
            raise TranslationConfigError(
                f"{self.origin}: {source}-en is Whisper's translate task, made where the speech "
                "is transcribed, not by the translate stage"
            )
        found = self.pairs.get((source, target))
        if found is None:
            known = ", ".join(f"{s}-{t}" for s, t in self.pairs) or "none"
            raise TranslationConfigError(
                f"{self.origin}: no translation backend for {source}-{target} (configured: {known})"
            )
        return found


def load_config(path: Path) -> TranslationConfig:
    """Reads and checks ``path`` (TranslationConfigError on any problem)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TranslationConfigError(f"cannot read {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise TranslationConfigError(f"{path} is not valid YAML: {error}") from error
    return parse_config(data, origin=str(path), base=path.parent)


def parse_config(data: object, *, origin: str, base: Path) -> TranslationConfig:
    """The configuration in ``data`` (the YAML document); ``base`` anchors relative paths."""
    if data is None:
        return TranslationConfig(origin=origin)
    top = _mapping(data, origin)
    unknown = set(top) - {"defaults", "pairs"}
    if unknown:
        raise TranslationConfigError(f"{origin}: unknown keys {sorted(unknown)} (defaults, pairs)")
    defaults = _values(
        _mapping(top.get("defaults") or {}, f"{origin}: defaults"), f"{origin}: defaults", base
    )
    if "backend" in defaults:
        raise TranslationConfigError(f"{origin}: defaults: each pair names its own backend")
    pairs = _mapping(top.get("pairs") or {}, f"{origin}: pairs")
    parsed: dict[tuple[str, str], PairConfig] = {}
    whisper: set[str] = set()
    for key, body in pairs.items():
        where = f"{origin}: pairs.{key}"
        if isinstance(body, dict) and body.get("backend") == WHISPER:
            whisper.add(_whisper_source(str(key), body, where))
            continue
        match = _PAIR.match(str(key))
        if match is None:
            raise TranslationConfigError(f"{where}: a pair is written source-target, e.g. en-es")
        merged = {**defaults, **_values(_mapping(body, where), where, base)}
        parsed[(match[1], match[2])] = _pair(match[1], match[2], merged, where)
    return TranslationConfig(pairs=parsed, origin=origin, whisper=frozenset(whisper))


def _whisper_source(key: str, body: dict[str, Any], where: str) -> str:
    """The source of a whisper entry: Whisper translates into English only, with the job's
    own model (so the entry takes no other settings)."""
    match = WHISPER_PAIR.match(key)
    if match is None:
        raise TranslationConfigError(
            f"{where}: whisper translates into English only: <source>-en, or *-en for any source"
        )
    if set(body) != {"backend"}:
        raise TranslationConfigError(
            f"{where}: whisper takes no settings (it is the job's own model, task translate)"
        )
    return match[1]


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TranslationConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _values(raw: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """The checked settings in ``raw`` (a pair's or the defaults'), paths made absolute."""
    unknown = set(raw) - _KEYS
    if unknown:
        raise TranslationConfigError(f"{where}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    if "backend" in raw:
        if raw["backend"] not in BACKENDS:
            raise TranslationConfigError(
                f"{where}: backend must be one of {', '.join((*BACKENDS, WHISPER))}"
            )
        values["backend"] = raw["backend"]
    for key in _INTS:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TranslationConfigError(f"{where}: {key} must be a whole number ≥ 0")
            if value == 0 and key != "threads":
                raise TranslationConfigError(f"{where}: {key} must be at least 1")
            values[key] = value
    for key in _STRS:
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise TranslationConfigError(f"{where}: {key} must be a non-empty string")
            values[key] = raw[key]
    for key in ("model", "tokenizer"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise TranslationConfigError(f"{where}: {key} must be a directory path")
            values[key] = base / Path(raw[key]).expanduser()
    return values


def _pair(source: str, target: str, values: dict[str, Any], where: str) -> PairConfig:
    backend = values.get("backend")
    if backend is None:
        raise TranslationConfigError(f"{where}: backend must be one of {', '.join(BACKENDS)}")
    if backend == "apertium" and "mode" not in values:
        raise TranslationConfigError(f"{where}: apertium needs a mode, e.g. mode: eng-spa")
    if backend != "apertium" and "model" not in values:
        raise TranslationConfigError(f"{where}: {backend} needs a model directory")
    return PairConfig(source=source, target=target, **values)

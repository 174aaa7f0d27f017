"""translation.yaml: which backend serves which language pair, and its mistakes reported clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.translate import (
    TranslationConfigError,
    TranslationUnavailable,
    load_config,
    open_translator,
)
from agents.translate.config import PairConfig
from streams.resources import TRANSLATION_FILE
from streams.settings import KaptionSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "translation.yaml"
    path.write_text(text)
    return path


def test_the_shipped_file_translates_english_into_spanish() -> None:
    assert KaptionSettings().translation_file == TRANSLATION_FILE
    config = load_config(TRANSLATION_FILE)
    pair = config.for_pair("en", "es")
    assert (pair.backend, pair.mode, pair.beam_size) == ("apertium", "eng-spa", 4)
    assert "casa" in open_translator(pair).translate(["The house is red."])[0]


def test_defaults_paths_and_overrides(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "defaults: {device: cuda, beam_size: 2, threads: 3}\n"
            "pairs:\n"
            "  en-de: {backend: transformers, model: models/opus-mt-en-de}\n"
            "  en-ja:\n"
            "    backend: ctranslate2\n"
            "    model: ~/nllb-ct2\n"
            "    beam_size: 5\n"
            "    compute_type: int8\n"
            "    source_code: eng_Latn\n"
            "    target_code: jpn_Jpan\n",
        )
    )
    assert config.for_pair("en", "de") == PairConfig(
        source="en",
        target="de",
        backend="transformers",
        model=tmp_path / "models" / "opus-mt-en-de",
        device="cuda",
        beam_size=2,
        threads=3,
    )
    ja = config.for_pair("en", "ja")
    assert ja.model == Path.home() / "nllb-ct2"
    assert (ja.beam_size, ja.compute_type, ja.target_code) == (5, "int8", "jpn_Jpan")
    with pytest.raises(TranslationConfigError, match=r"no translation backend for en-fr"):
        config.for_pair("en", "fr")
    with pytest.raises(AttributeError):
        ja.beam_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pairs: [en-es]\n", r"pairs: expected a mapping, got list"),
        ("pairs:\n  english-spanish: {backend: apertium, mode: eng-spa}\n", r"source-target"),
        ("pairs:\n  en-es: {backend: google}\n", r"pairs.en-es: backend must be one of apertium"),
        ("pairs:\n  en-es: {backend: apertium}\n", r"apertium needs a mode"),
        ("pairs:\n  en-de: {backend: transformers}\n", r"transformers needs a model directory"),
        (
            "pairs:\n  en-es: {backend: apertium, mode: eng-spa, beam: 2}\n",
            r"unknown keys \['beam'\]",
        ),
        ("pairs:\n  en-de: {backend: ctranslate2, model: m, batch_size: 0}\n", r"at least 1"),
        ("pairs:\n  en-de: {backend: ctranslate2, model: m, beam_size: two}\n", r"whole number"),
        ("defaults: {device: 1}\npairs: {}\n", r"device must be a non-empty string"),
        ("pairs: {en-es: {backend: apertium, mode: eng-spa}\n", r"is not valid YAML"),
        ("languages: {}\n", r"unknown keys \['languages'\]"),
    ],
)
def test_mistakes_are_reported_with_file_and_pair(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TranslationConfigError, match=message) as raised:
        load_config(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_and_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(TranslationConfigError, match=r"cannot read .*nothing.yaml"):
        load_config(tmp_path / "nothing.yaml")
    assert load_config(write(tmp_path, "# nothing yet\n")).pairs == {}


def test_a_configured_model_that_is_missing(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "pairs:\n  en-de: {backend: transformers, model: opus-mt-en-de}\n")
    )
    with pytest.raises(TranslationUnavailable, match=f"{tmp_path / 'opus-mt-en-de'} does not"):
        open_translator(config.for_pair("en", "de"))

"""Apertium (Debian's apertium and apertium-eng-spa, `make debian-tools`) translating English
into Spanish for real, a batch per process with its alignment kept."""

from __future__ import annotations

import pytest

from agents.transcribe.whisper import load_model
from agents.translate import TranslationUnavailable, Translator
from agents.translate.apertium import ApertiumTranslator, clean_marks
from tests.paths import MEDIA


@pytest.fixture(scope="module")
def eng_spa() -> ApertiumTranslator:
    return ApertiumTranslator("eng-spa")


def test_english_into_spanish(eng_spa: ApertiumTranslator) -> None:
    house, car = eng_spa.translate(["The house is red.", "I like the green car."])
    assert "casa" in house and "roja" in house
    assert "coche verde" in car
    assert eng_spa.name == "apertium eng-spa"
    assert eng_spa.version.startswith("apertium ") and "apertium-eng-spa " in eng_spa.version
    assert "unknown" not in eng_spa.version  # Debian's package versions
    assert isinstance(eng_spa, Translator)


def test_a_batch_keeps_its_alignment(eng_spa: ApertiumTranslator) -> None:
    # Lines a single newline would let Apertium's rules reorder across ("I like the" +
    # "green car"), punctuation only, markup-like and stream-format characters, blank texts.
    texts = [
        "I like the",
        "green car",
        "",
        "...",
        "   ",
        "price is $5 ^ 2 [b] {x} <i>hi</i> \\ done",
        "He said\nyes. The dog sleeps",
    ]
    batch = eng_spa.translate(texts)
    assert len(batch) == len(texts)
    assert batch[2] == batch[4] == ""
    assert batch == [eng_spa.translate([text])[0] for text in texts]
    assert "coche verde" in batch[1].lower() and "coche" not in batch[0]
    assert "perro" in batch[6]


def test_unknown_word_marks_are_removed(eng_spa: ApertiumTranslator) -> None:
    (out,) = eng_spa.translate(["The machines transcribe speech into subtitles"])
    assert "subtitles" in out and "*" not in out
    # A character the source has is kept; a mark it has not is removed.
    assert clean_marks("I use @home", "Utilizo @casa") == "Utilizo @casa"
    assert clean_marks("the datum", " el #datum  y  @cosa") == "el datum y cosa"
    assert clean_marks("a # b", "x #y @z") == "x #y z"


def test_a_pair_that_is_not_installed() -> None:
    with pytest.raises(TranslationUnavailable, match=r"apertium mode eng-xyz is not installed"):
        ApertiumTranslator("eng-xyz")


def test_english_speech_into_spanish(eng_spa: ApertiumTranslator) -> None:
    """End to end: the bundled tiny.en transcribes the test speech; Apertium translates it."""
    model = load_model("", "cpu", "int8", 2)
    segments, _ = model.transcribe(str(MEDIA / "speech.flac"), beam_size=1, language="en")
    english = [segment.text for segment in segments]
    spanish = eng_spa.translate(english)
    assert len(spanish) == len(english) >= 3
    text = " ".join(spanish).lower()
    for word in ("zorro", "perro", "pantalla"):
        assert word in text

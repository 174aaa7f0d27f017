"""A live phrase's spoken language without a broker: transcribe-live puts it on the phrase,
cues-live on its final cues (a translated final keeps it), and translate-live translates each
final from it (kept as transcribed when already in the target), with Debian's Apertium both
ways; records and stored states from before the fields existed read as the deployment's
language."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agents.cues.live_order import LiveOrderState, receive_step
from agents.translate.config import TranslationConfigError
from agents.translate.live import translated_final
from agents.translate.live_agent import opened, phrase_source, source_language, translate_texts
from streams.events.codec import AvroCodec
from streams.events.model import LiveCue, LiveKind, LiveTranscript
from streams.settings import KaptionSettings
from tests.history import SCHEMAS_DIR, older
from tests.live_events import NOW, transcript


def ordered(items: list[LiveTranscript]) -> list[LiveCue]:
    state = LiveOrderState(stream_id="s")
    cues: list[LiveCue] = []
    for n, t in enumerate(items):
        step = receive_step(state, t, NOW + 10 + n)
        state = LiveOrderState.from_json(step.state.to_json())  # as the table keeps it
        cues += step.cues
    return cues


def test_a_final_cue_says_the_language_its_phrase_was_spoken_in() -> None:
    cues = ordered(
        [
            transcript(0, LiveKind.INTERIM, 0.0, 1.0, "el tren", language="es"),
            transcript(0, LiveKind.FINAL, 0.0, 2.0, "el tren sale", language="es"),
            transcript(1, LiveKind.SILENCE, 2.0, 4.0, ""),
            transcript(2, LiveKind.FINAL, 4.0, 5.0, "the train", language="en"),
        ]
    )
    assert [(c.kind, c.source_language) for c in cues] == [
        (LiveKind.INTERIM, ""),
        (LiveKind.FINAL, "es"),
        (LiveKind.SILENCE, ""),
        (LiveKind.FINAL, "en"),
    ]
    spanish = cues[1]
    done = translated_final(spanish, "en", ["the train leaves"], 0.0, NOW + 20)
    assert (done.language, done.source_language) == ("en", "es")


def settings(language: str, pairs: dict[str, dict[str, str]], tmp_path: Path) -> KaptionSettings:
    config = tmp_path / "translation.yaml"
    config.write_text(json.dumps({"pairs": pairs}))  # JSON is YAML
    return KaptionSettings(language=language, translation_file=config)


def test_a_final_is_translated_from_its_own_language(tmp_path: Path) -> None:
    both_ways = {
        "en-es": {"backend": "apertium", "mode": "eng-spa"},
        "es-en": {"backend": "apertium", "mode": "spa-eng"},
    }
    auto = settings("auto", both_ways, tmp_path)
    assert source_language(auto) == "en"  # what a stream's start loads pairs for
    cue = ordered([transcript(0, LiveKind.FINAL, 0.0, 2.0, "el perro", language="es")])[0]
    assert phrase_source(auto, cue) == "es"
    assert phrase_source(auto, replace(cue, source_language="")) == "en"  # an older record
    [english] = translate_texts(auto, "es", "en", ["El perro duerme en la casa."])
    assert "dog" in english.lower() and "house" in english.lower(), english
    [spanish] = translate_texts(auto, "en", "es", ["The dog sleeps in the house."])
    assert "perro" in spanish.lower(), spanish
    # Spoken in the target already: kept as transcribed, no pair needed.
    assert translate_texts(auto, "es", "es", ["El perro.", ""]) == ["El perro.", ""]
    alone = settings("auto", {}, tmp_path)
    assert translate_texts(alone, "de", "de", ["Der Hund."]) == ["Der Hund."]
    with pytest.raises(TranslationConfigError, match="no translation backend for es-de"):
        translate_texts(alone, "es", "de", ["El perro."])


def test_a_stream_start_checks_no_pair_for_its_own_language(tmp_path: Path) -> None:
    spanish = settings("es", {"es-en": {"backend": "apertium", "mode": "spa-eng"}}, tmp_path)
    unusable = opened(spanish, source_language(spanish), ["es", "en", "de"])
    assert list(unusable) == ["de"]
    assert isinstance(unusable["de"], TranslationConfigError)


def test_records_and_states_from_before_the_language_read_as_the_deployments() -> None:
    codec = AvroCodec(SCHEMAS_DIR)
    t = transcript(0, LiveKind.FINAL, 0.0, 1.0, "hola amigo")
    assert codec.decode(older(t, "LiveTranscript", "language")) == t
    cue = ordered([t])[0]
    assert cue.source_language == ""
    assert codec.decode(older(cue, "LiveCue", "source_language")) == cue
    spoken = replace(cue, source_language="es")
    assert codec.decode(codec.encode(spoken)) == spoken
    state = LiveOrderState(stream_id="s", held={0: replace(t, language="es")}).to_dict()
    for record in state["held"]:
        del record["language"]  # a table value stored before the upgrade
    assert LiveOrderState.from_dict(state).held[0] == t

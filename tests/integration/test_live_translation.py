"""Live translation through a real broker, the live workers, the real model and Debian's
Apertium: a stream that asks for Spanish and German gets NAME.es.vtt/.m3u8/.srt with Spanish
captions that keep the cue rules, German (its model missing) stops with the reason in a gap,
and the source's own captions and files are what they would be without translation."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import m3u8
import pysubs2
import pytest

from agents.cues.check import check_cues
from agents.cues.model import Cue
from agents.subtitles.render import parse_cues
from clients.live.ingest import IngestOptions, read_live
from clients.live.session import Captions, StreamClient, ingest
from streams.broker.topics import Outgoing
from streams.events.model import LiveCue, LiveCueLine, LiveKind, LiveWord
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import LIVE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import scrape
from tests.integration.test_live import READY_S, SPEECH, Streamed, assert_files
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
# Apertium's Spanish for words of the speech fixture ("the quick brown fox ... lazy dog ...
# on the screen while people are speaking"); tiny.en may mishear one or two of them live.
SPANISH = {"zorro", "perro", "pantalla", "personas", "hablando", "cada"}


@dataclass
class LiveTranslation:
    settings: KaptionSettings
    out_dir: Path
    port: int
    missing: Path
    process: Any


@pytest.fixture(scope="module")
def lane(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTranslation]:
    """The live lane's workers (translate-live among them) with en-es by Apertium and en-de
    by a transformers model that is not there."""
    data = tmp_path_factory.mktemp("live-translation")
    missing = data / "opus-mt-en-de"  # never made: German fails
    config = data / "translation.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "pairs": {
                    "en-es": {"backend": "apertium", "mode": "eng-spa"},
                    "en-de": {"backend": "transformers", "model": str(missing)},
                    "es-en": {"backend": "apertium", "mode": "spa-eng"},
                }
            }
        )
    )
    out_dir = data / "out"
    settings = fresh_settings(
        bootstrap,
        data,
        live_out_dir=out_dir,
        live_order_timeout_s=5.0,
        live_replay=False,
        translation_file=config,
    )
    create_topics(settings)
    port = free_port()
    worker = settings.model_copy(update={"metrics_port": port})
    log = data / "worker.log"
    with worker_process(worker, list(LIVE_STAGES), log) as process:
        wait_ready(port, lambda: process.poll() is None, READY_S)
        yield LiveTranslation(settings, out_dir, port, missing, process)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


def translated_count(port: int) -> float:
    return next(
        s.value
        for s in scrape(port, "kaption_live_caption_latency_seconds")
        if s.name.endswith("_count") and s.labels["kind"] == "translated"
    )


def stream(
    settings: KaptionSettings, stream_id: str, languages: tuple[str, ...], media: Path = SPEECH
) -> Streamed:
    """Ingests ``media`` at playback speed, reading cues until the stream and every language
    have ended."""
    seen: list[LiveCue] = []
    captions = Captions(stream_id, lambda line: None, languages=languages)

    def take(cues: list[LiveCue]) -> None:
        mine = [c for c in cues if c.stream_id == stream_id]
        seen.extend(mine)
        captions.take(mine)

    with StreamClient(settings) as client:
        items = read_live(str(media), IngestOptions(realtime=True))
        end = ingest(client, stream_id, items, lambda: take(client.cues()), languages)
        deadline = time.monotonic() + 60
        while not captions.done and time.monotonic() < deadline:
            take(client.cues(0.2))
    assert captions.done, ("not every language ended", captions.translated_ended)
    return Streamed(end, seen, captions)


def test_a_stream_asking_for_spanish_gets_spanish_files_beside_its_own(
    lane: LiveTranslation,
) -> None:
    before = translated_count(lane.port)
    result = stream(lane.settings, "talk", ("es", "de"))
    source = [c for c in result.cues if not c.language]
    spanish = [c for c in result.cues if c.language == "es"]
    german = [c for c in result.cues if c.language == "de"]

    # The source's captions and files are a stream's without translation.
    own = Streamed(result.end, source, result.captions)
    assert_files(lane.out_dir, "talk", own)
    source_text = (lane.out_dir / "talk.vtt").read_text().lower()
    assert not SPANISH & set(source_text.split()), source_text

    # Spanish: a translated final for every source final, marks passed on, in order.
    finals = [c for c in source if c.kind == LiveKind.FINAL]
    es_finals = [c for c in spanish if c.kind == LiveKind.FINAL]
    assert [c.seq for c in es_finals] == [c.seq for c in finals]
    released = [c.seq for c in source if c.kind != LiveKind.INTERIM]
    assert [c.seq for c in spanish] == released
    assert spanish[-1].kind == LiveKind.END and spanish[-1].reason == result.end.reason
    lines = [line for c in es_finals for line in c.cues]
    words = set(" ".join(line.text for line in lines).lower().replace("\n", " ").split())
    assert len(SPANISH & words) >= 3, words

    # NAME.es.vtt, .srt and the HLS segments hold those cues, and they keep the cue rules.
    rolling = pysubs2.load(str(lane.out_dir / "talk.es.vtt"))
    complete = pysubs2.load(str(lane.out_dir / "talk.es.srt"))
    assert (
        [e.plaintext for e in rolling]
        == [e.plaintext for e in complete]
        == [line.text for line in lines]
    )
    cues = [Cue.from_text(e.start / 1000, e.end / 1000, e.plaintext) for e in complete]
    assert check_cues(cues) == []
    playlist = m3u8.load(str(lane.out_dir / "talk.es.m3u8"))
    assert playlist.is_endlist and playlist.segments
    in_segments = set()
    for segment in playlist.segments:
        assert segment.uri.startswith("talk.es-")
        text = (lane.out_dir / segment.uri).read_text()
        in_segments |= {e.plaintext for e in pysubs2.SSAFile.from_string(text, format_="vtt")}
    assert in_segments == {line.text for line in lines}

    # Each word's latency runs to its translated publication: after its source final.
    source_words = [w for c in finals for w in c.words]
    es_words = [w for c in es_finals for w in c.words]
    assert [w.word for w in es_words] == [w.word for w in source_words]
    late = [
        (s, t)
        for s, t in zip(source_words, es_words, strict=True)
        if not s.final_latency_s - 0.01 <= t.final_latency_s < 30
    ]
    assert late == []
    assert len(result.captions.translated["es"]) == len(es_words)
    assert translated_count(lane.port) - before == len(es_words)

    # German cannot be served: one gap says why, then its end; no captions, the source goes on.
    assert [c.kind for c in german] == [LiveKind.GAP, LiveKind.END], german
    assert "translation into de failed" in german[0].reason
    assert str(lane.missing) in german[0].reason
    assert parse_cues((lane.out_dir / "talk.de.srt").read_text(), "srt") == []


def words_in(lines: list[str]) -> set[str]:
    return set(re.findall(r"\w+", " ".join(lines).lower()))


def test_a_spanish_stream_is_translated_from_spanish(lane: LiveTranslation) -> None:
    """The deployment's language is auto (English expected): the live model hears Spanish, the
    finals say so, English comes from the es-en pair and Spanish is the transcript itself."""
    assert lane.settings.language == "auto"
    result = stream(lane.settings, "charla", ("es", "en"), media=MEDIA / "lang_es.mp4")
    finals = [c for c in result.cues if not c.language and c.kind == LiveKind.FINAL]
    assert finals and {c.source_language for c in finals} == {"es"}, finals
    said = [line.text for c in finals for line in c.cues]
    assert len({"tren", "estación", "mañana", "pan", "mercado"} & words_in(said)) >= 3, said
    by_language = {
        language: [c for c in result.cues if c.language == language and c.kind == LiveKind.FINAL]
        for language in ("es", "en")
    }
    # Spoken in Spanish: its Spanish captions are what was transcribed (laid out again).
    spanish = [line.text for c in by_language["es"] for line in c.cues]
    assert " ".join(spanish).split() == " ".join(said).split()
    # Apertium's English for the fixture's words ("The train exits of the season to the eight
    # of the morning. Tomorrow we go to buy bread and fruit in the market of the village.").
    english = [line.text for c in by_language["en"] for line in c.cues]
    expected = {"train", "exits", "season", "eight", "morning", "tomorrow", "buy", "bread"}
    assert len((expected | {"fruit", "market", "village"}) & words_in(english)) >= 4, english
    assert all(c.source_language == "es" for cues in by_language.values() for c in cues)
    assert "train" in (lane.out_dir / "charla.en.vtt").read_text().lower()


def handled_by_translate_live(port: int) -> float:
    return sum(
        s.value
        for s in scrape(port, "kaption_stage_events")
        if s.name.endswith("_total") and s.labels["stage"] == "translate-live"
    )


def test_finals_read_before_their_streams_start_are_translated_once_it_comes(
    lane: LiveTranslation,
) -> None:
    """live.streams and live.cues are read side by side: a worker behind on live.streams (here:
    the start published after the stream's cues were handled) still translates them."""
    now = time.time()
    words = (("The", 0.5, 0.8), ("dog", 0.8, 1.2), ("is", 1.2, 1.4), ("lazy.", 1.4, 2.0))
    phrase = LiveCue(
        stream_id="early", seq=0, revision=1, kind=LiveKind.FINAL, start=0.5, end=2.0,
        stable="", unstable="", cues=(LiveCueLine(start=0.5, end=2.5, text="The dog is lazy."),),
        words=tuple(LiveWord(word=w, start=s, end=e, first_latency_s=0.5, final_latency_s=0.9)
                    for w, s, e in words),
        watermark=2.0, source_offset=0.0, gap_s=0.0, reason="", published_at=now,
        capture_end=now - 0.9,
    )  # fmt: skip
    end = replace(phrase, seq=1, kind=LiveKind.END, cues=(), words=(), reason="source ended")
    seen: list[LiveCue] = []
    with StreamClient(lane.settings) as client:
        before = handled_by_translate_live(lane.port)
        client.send(Outgoing("live.cues", phrase))
        client.send(Outgoing("live.cues", end))
        deadline = time.monotonic() + 60
        while handled_by_translate_live(lane.port) < before + 2 and time.monotonic() < deadline:
            seen += client.cues(0.2)
        assert handled_by_translate_live(lane.port) >= before + 2, "translate-live read nothing"
        client.publish_start("early", ("es",))
        while not any(c.language == "es" and c.kind == LiveKind.END for c in seen):
            assert time.monotonic() < deadline + 60, seen
            seen += client.cues(0.2)
    spanish = [c for c in seen if c.stream_id == "early" and c.language == "es"]
    assert [c.kind for c in spanish] == [LiveKind.FINAL, LiveKind.END]
    assert "perro" in spanish[0].cues[0].text.lower(), spanish[0]

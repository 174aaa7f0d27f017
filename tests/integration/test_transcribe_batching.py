"""Batched transcription: the real model on the test speech, alone and through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faster_whisper.audio import pad_or_trim

from agents.decode.media import decode_audio
from agents.transcribe.agent import configured_model
from agents.transcribe.whisper import (
    Clip,
    ShortWindowModel,
    Transcript,
    load_model,
    transcribe_batch,
)
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes, pcm_to_float
from streams.events.codec import AvroCodec
from streams.events.model import JobState, SegmentTranscribed, SpeechSegment
from streams.runtime.processes import free_port, worker_process
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings, run_job
from tests.integration.helpers import read, scrape, value_of
from tests.paths import MEDIA, SAMPLES
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
# Word times may reach a little past their segment's audio (alignment in the padding).
WORD_SLACK_S = 0.5


def media_segments(settings: KaptionSettings) -> list[SpeechSegment]:
    """The sample video and the test speech, as speech detection cuts them with short pauses,
    no merging and at most 10 s: several segments of different lengths."""
    options = vad_options(settings.model_copy(update={"vad_min_silence_ms": 500}))
    segments = []
    for window, path in enumerate((SAMPLES / "demo.mp4", MEDIA / "speech.wav")):
        pcm = decode_audio(str(path)).pcm
        segments += speech_segments(
            "job", window, pcm, SAMPLE_RATE, 100.0 * window, options, 10.0, 0.0
        )
    return segments


def one_by_one(settings: KaptionSettings, segments: list[SpeechSegment]) -> list[Transcript]:
    model = configured_model(settings)
    return [
        transcribe_batch(model, [clip(s)], SAMPLE_RATE, "en", settings.whisper_beam_size)[0]
        for s in segments
    ]


def clip(segment: SpeechSegment) -> Clip:
    return Clip(pcm_from_bytes(segment.pcm), segment.start)


def test_a_batch_gives_each_segment_what_it_gets_alone() -> None:
    """Text, words and word times of each segment are the same in one batch as one by one, and
    the word times are absolute media times inside the segment."""
    settings = KaptionSettings()
    segments = media_segments(settings)
    assert len(segments) >= 4
    alone = one_by_one(settings, segments)
    batched = transcribe_batch(
        configured_model(settings),
        [clip(s) for s in segments],
        SAMPLE_RATE,
        "en",
        settings.whisper_beam_size,
    )
    assert [t.text for t in batched] == [t.text for t in alone]
    for segment, together, single in zip(segments, batched, alone, strict=True):
        assert together.text and together.words
        assert [w.word for w in together.words] == [w.word for w in single.words]
        for a, b in zip(together.words, single.words, strict=True):
            assert a.start == pytest.approx(b.start, abs=1e-6)
            assert a.end == pytest.approx(b.end, abs=1e-6)
            assert segment.start - WORD_SLACK_S <= a.start <= a.end
            assert a.end <= segment.end + WORD_SLACK_S
    reference = (SAMPLES / "demo.txt").read_text(encoding="utf-8")
    demo_text = " ".join(t.text for s, t in zip(segments, batched, strict=True) if s.index < 10_000)
    assert word_error_rate(reference, demo_text) < 0.35


def test_the_live_lanes_short_encoder_window_keeps_the_words() -> None:
    """The live lane's model reads 20 s of Whisper's window: each short segment's words stay
    inside it and the text is as accurate as the full window's; a clip longer than the window
    (the whole 16-s test speech through a 5-s window) is still read to its end."""
    settings = KaptionSettings()
    segments = media_segments(settings)
    short = configured_model(settings, "live")
    assert isinstance(short, ShortWindowModel) and short.window_s == 20
    full = one_by_one(settings, segments)
    texts = []
    for segment in segments:
        [got] = transcribe_batch(short, [clip(segment)], SAMPLE_RATE, "en", 5)
        assert got.words
        assert segment.start - WORD_SLACK_S <= got.words[0].start
        assert got.words[-1].end <= segment.end + WORD_SLACK_S
        texts.append(got.text)
    reference = (SAMPLES / "demo.txt").read_text(encoding="utf-8") + " " + speech_text()
    short_wer = word_error_rate(reference, " ".join(texts))
    full_wer = word_error_rate(reference, " ".join(t.text for t in full))
    assert short_wer <= full_wer + 0.03, (short_wer, full_wer)

    narrow = load_model("", "cpu", settings.whisper_compute_type, 2, "test", 0, 5)
    pcm = decode_audio(str(MEDIA / "speech.wav")).pcm
    [whole] = transcribe_batch(narrow, [Clip(pcm, 0.0)], SAMPLE_RATE, "en", 5)
    assert word_error_rate(speech_text(), whole.text) < 0.2, whole.text
    assert whole.words[-1].end > 13.0  # the last sentence ends at 14.4 s


def test_a_clip_longer_than_the_short_window_is_encoded_to_a_whole_second() -> None:
    """faster-whisper aligns a clip's words over ceil(duration) seconds of encoder output; a
    short-window encoder that stopped at the clip's last frame (7.3 s here) let the alignment
    read past its output."""
    narrow = load_model("", "cpu", KaptionSettings().whisper_compute_type, 2, "test", 0, 5)
    pcm = decode_audio(str(MEDIA / "speech.wav")).pcm[: int(7.3 * SAMPLE_RATE)]
    features = narrow.feature_extractor(pcm_to_float(pcm))[..., :-1]
    output = narrow.encode(pad_or_trim(features)[None])
    assert output.shape[1] * 2 == 800  # the encoder halves the frames


def speech_text() -> str:
    return str(json.loads((MEDIA / "speech.json").read_text(encoding="utf-8"))["text"])


def test_a_batching_worker_transcribes_as_one_by_one(bootstrap: str, tmp_path: Path) -> None:
    """A worker that batches up to 4 segments completes the job, batches some of them (its
    batch size metric), and each segment's published text equals the segment transcribed
    alone."""
    port = free_port()
    settings = fresh_settings(
        bootstrap,
        tmp_path,
        metrics_port=port,
        audio_window_s=10.0,
        max_merge_gap_s=0.0,
        transcribe_batch_size=4,
        transcribe_batch_max_wait_ms=200,
    )
    create_topics(settings)
    with worker_process(settings, "all", tmp_path / "worker.log") as worker:
        result = run_job(settings, str(SAMPLES / "demo.mp4"), alive=lambda: worker.poll() is None)
        samples = scrape(port, "kaption_batch_size")
    assert result.state == JobState.COMPLETED, result.status
    batches = {
        sample.name: sample.value
        for sample in samples
        if sample.labels.get("stage") == "transcribe" and sample.name.endswith(("_sum", "_count"))
    }
    assert batches["kaption_batch_size_sum"] > batches["kaption_batch_size_count"] > 0, batches
    codec = AvroCodec(settings.schemas_dir)
    total = result.status.segments_total
    assert total >= 4
    sent = [codec.decode_as(SpeechSegment, value_of(m)) for m in read(settings, "segments", total)]
    published = {
        t.segment_id: t
        for t in (
            codec.decode_as(SegmentTranscribed, value_of(m))
            for m in read(settings, "segments.transcribed", total)
        )
    }
    assert sorted(published) == sorted(s.segment_id for s in sent)
    alone = one_by_one(settings, sent)
    for segment, single in zip(sent, alone, strict=True):
        assert published[segment.segment_id].text == single.text
        assert [w.word for w in published[segment.segment_id].words] == [
            w.word for w in single.words
        ]

"""Live caption policies offline: when a word becomes final, at what accuracy.

The live lane on a virtual clock: the speech file goes chunk by chunk through the real speech
detector (`agents.live.phrases`), its phrases and interims through one simulated transcription
worker making the real model calls (the live lane's model, first in first out, stale interims
skipped, each call taking as long as it really took, or ``--call-s`` for figures that do not
depend on the machine's noise), and the transcripts through the real ordering stage
(`agents.cues.live_order`). The transcripts of one run are then replayed under each policy
(`POLICIES`: 2, 3 or 4 agreeing interims, finals per phrase, 2 or 3 agreeing or one confident
interim), so the policies are compared on exactly the same hypotheses: per word,
first-appearance and final latency (p50 / p95), words final before their phrase ended, and the
WER of the final captions against the reference.

Run: ``python bench/live_policy.py [--minutes 5] [--interval 1.0] [--no-interim-prompt]
[--call-s S] [--speech bench/out/other_voices.wav]``.
No broker, about half the stream's length in model time.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import build_inputs, progress, quiet_enough

from agents.cues.live_order import (
    ConfidentCommit,
    LiveOrderState,
    Policy,
    receive_step,
)
from agents.decode.media import decode_audio
from agents.live.agent import phrase_rules
from agents.live.phrases import Detector, PhraseRules
from agents.transcribe.agent import live_spec
from agents.transcribe.live_agent import Context, live_transcript, transcribe_live
from agents.transcribe.whisper import Transcript
from clients.live.ingest import Chunk, End
from clients.live.session import audio_chunk
from clients.live.status import latency_summary
from streams.events.audio import SAMPLE_RATE
from streams.events.model import LiveKind, LiveSegment, LiveTranscript
from streams.settings import KaptionSettings
from tests.wer import word_error_rate

HOP_S = 0.05  # one Kafka hop on the embedded broker (README, Speed)
# An agreement of 1000 never commits a word early: finals per phrase.
POLICIES = {
    "2 agree": Policy(agreement=2, confident=None),
    "3 agree": Policy(agreement=3, confident=None),
    "4 agree": Policy(agreement=4, confident=None),
    "per phrase": Policy(agreement=1000, confident=None),
    "3 + confident": Policy(agreement=3, confident=ConfidentCommit()),
    "2 + confident": Policy(agreement=2, confident=ConfidentCommit()),
    "conf, no floor": Policy(
        agreement=3, confident=ConfidentCommit(min_probability=0.0, margin_s=1.0, min_heard_s=0.0)
    ),
}


def detect(pcm: np.ndarray, rules: PhraseRules, chunk_s: float) -> list[tuple[float, object]]:
    """Every item speech detection publishes, with the wall time it goes out: ingest's chunks
    (each captured at its end and published at once), then the end."""
    detector = Detector("bench", rules)
    size = round(chunk_s * SAMPLE_RATE)
    count = -(-len(pcm) // size)
    items: list[tuple[float, object]] = []
    for k in range(count + 1):
        piece = pcm[k * size : (k + 1) * size]
        captured = (k * size + len(piece)) / SAMPLE_RATE
        source: Chunk | End = (
            End(k, captured, "source ended")
            if k == count
            else Chunk(
                k,
                k * size / SAMPLE_RATE,
                len(piece) / SAMPLE_RATE,
                piece.astype("<i2").tobytes(),
                captured,
                0.0,
                0.0,
                "",
            )
        )
        chunk = audio_chunk("bench", source)
        items += [(captured + HOP_S, item) for item in detector.feed(chunk, captured)]
    return items


@dataclass
class Transcribed:
    outputs: list[tuple[float, LiveTranscript]]
    busy_s: float


def transcribe(
    settings: KaptionSettings,
    items: list[tuple[float, object]],
    interim_prompt: bool,
    interim_beam: int,
    call_s: float | None = None,
    lookahead: tuple[np.ndarray, float] | None = None,
    interim_model: str = "",
) -> Transcribed:
    """One live transcription worker on a virtual clock, making the real calls with the live
    lane's own code (model, prompt context, transcript). Each call takes as long as it took,
    or ``call_s`` on the clock: latencies that do not depend on this shared machine's noise.
    ``lookahead`` (the stream's audio, seconds): each final waits for that much audio after its
    phrase and hears it too, keeping the words that lie mostly before the phrase's end (a
    design tried, not the live lane's). ``interim_model``: interims on another model than the
    finals (a design tried)."""
    if lookahead is not None:
        items = sorted(
            (later(arrival, item, *lookahead, settings.live_chunk_s) for arrival, item in items),
            key=lambda pair: pair[0],
        )
    interim_settings = settings.model_copy(
        update={"whisper_beam_size": interim_beam, "live_whisper_model": interim_model}
        if interim_model
        else {"whisper_beam_size": interim_beam}
    )
    context = Context(settings.live_context_s)
    free_at = busy = 0.0
    outputs: list[tuple[float, LiveTranscript]] = []
    for arrival, item in items:
        if isinstance(item, LiveTranscript):  # a silence, gap or end mark
            outputs.append((arrival, item))
            continue
        assert isinstance(item, LiveSegment)
        start = max(arrival, free_at)
        if not item.final and start - item.sent_at > settings.live_interim_max_age_s:
            continue
        context_of = context.heard(item, item.final or settings.live_interim_context)
        if not (item.final or interim_prompt):
            context_of = replace(context_of, prompt="")
        heard = item
        if lookahead is not None and item.final:
            pcm, seconds = lookahead
            after = pcm[round(item.end * SAMPLE_RATE) : round((item.end + seconds) * SAMPLE_RATE)]
            heard = replace(item, pcm=item.pcm + after.astype("<i2").tobytes())
        transcript, took = transcribe_live(
            settings if item.final else interim_settings, heard, context_of
        )
        if heard is not item:
            words = tuple(w for w in transcript.words if (w.start + w.end) / 2 < item.end)
            transcript = Transcript(
                "".join(w.word for w in words).strip(), words, transcript.language
            )
        took = took if call_s is None else call_s
        busy += took
        free_at = start + took
        if item.final:
            context.remember(item, transcript.text, transcript.language)
        kind = LiveKind.FINAL if item.final else LiveKind.INTERIM
        result = live_transcript(item, kind, transcript, live_spec(settings), took)
        outputs.append((free_at + HOP_S, result))
    outputs.sort(key=lambda pair: pair[0])
    return Transcribed(outputs, busy)


def later(
    arrival: float, item: object, pcm: np.ndarray, seconds: float, chunk_s: float
) -> tuple[float, object]:
    """A final sent once the chunk holding ``seconds`` of audio after its phrase is in."""
    if not (isinstance(item, LiveSegment) and item.final):
        return arrival, item
    heard = min(item.end + seconds, len(pcm) / SAMPLE_RATE)
    return max(arrival, math.ceil(heard / chunk_s - 1e-9) * chunk_s + HOP_S), item


def replay(
    outputs: list[tuple[float, LiveTranscript]], name: str, policy: Policy, reference: str
) -> str:
    """The transcripts through the ordering stage under one policy: one line."""
    state = LiveOrderState()
    first: list[float] = []
    final: list[float] = []
    words: list[str] = []
    early = 0
    for at, transcript in outputs:
        step = receive_step(state, transcript, at + HOP_S, policy)
        state = step.state
        for phrase in step.phrases:
            early += phrase.committed
            first += [w.first_latency_s for w in phrase.words]
            final += [w.final_latency_s for w in phrase.words]
            words += [w.word for w in phrase.words]
    f, g = latency_summary(first), latency_summary(final)
    wer = word_error_rate(reference, " ".join(words))
    return (
        f"{name:14s} first p50 {f['p50']:.2f} p95 {f['p95']:.2f} s   final p50 {g['p50']:.2f}"
        f" p95 {g['p95']:.2f} max {g['max']:.2f} s   final early {early:4d} of {len(final)}"
        f"   WER {wer:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=None, help="interim interval, s")
    parser.add_argument("--no-interim-prompt", action="store_true")
    parser.add_argument(
        "--call-s", type=float, default=None, help="every model call takes this long, s"
    )
    parser.add_argument("--interim-beam", type=int, default=None, help="beam size of interims")
    parser.add_argument(
        "--speech",
        type=Path,
        default=None,
        help="another WAV file (its reference text beside it as .txt), e.g. other_voices.py's",
    )
    args = parser.parse_args()
    load = quiet_enough()
    settings = KaptionSettings()
    if args.interval:
        settings = settings.model_copy(update={"live_interim_interval_s": args.interval})
    interval = settings.live_interim_interval_s
    if args.speech:
        pcm = decode_audio(str(args.speech)).pcm
        seconds, reference = len(pcm) / SAMPLE_RATE, args.speech.with_suffix(".txt").read_text()
    else:
        inputs = build_inputs(args.minutes)
        pcm = decode_audio(str(inputs.long_wav)).pcm
        seconds, reference = inputs.long_seconds, inputs.reference
    items = detect(pcm, phrase_rules(settings), settings.live_chunk_s)
    progress(f"{len(items)} items from {seconds:.0f} s; transcribing")
    beam = args.interim_beam or settings.whisper_beam_size
    done = transcribe(settings, items, not args.no_interim_prompt, beam, args.call_s)
    print(
        f"{seconds:.0f} s, interims every {interval:g} s,"
        f" {'no ' if args.no_interim_prompt else ''}prompt on interims, interim beam {beam},"
        f" calls {'as measured' if args.call_s is None else f'{args.call_s:g} s'},"
        f" chunks {settings.live_chunk_s:g} s, load {load:.2f}:"
        f" compute/elapsed {done.busy_s / seconds:.2f}"
    )
    for name, policy in POLICIES.items():
        print(replay(done.outputs, name, policy, reference))


if __name__ == "__main__":
    main()

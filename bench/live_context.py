"""What hearing a phrase after the audio before it costs: each final phrase of the live
evaluation set's parts is transcribed alone and after the stream's last final phrases
(``live_context_s``), one right after the other, so both see the same machine; prints the
call times (p50 / p95) and their ratio, and the compute the live lane then needs per second
of speech with interims (the interims are transcribed the same way).

Run: ``python bench/live_context.py [--seconds 8] [--parts tuning,heldout]``. No broker.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import load_average, progress
from live_eval import parts
from live_policy import detect

from agents.decode.media import decode_audio
from agents.live.agent import phrase_rules
from agents.transcribe.live_agent import Context, transcribe_live
from streams.events.model import LiveSegment
from streams.settings import KaptionSettings


def timed(settings: KaptionSettings, segments: list[LiveSegment], seconds: float) -> list[float]:
    """Each segment's call time with ``seconds`` of context (0: alone), finals remembered."""
    context, took = Context(seconds), []
    for segment in segments:
        heard = context.heard(segment)
        started = time.perf_counter()
        transcript, _ = transcribe_live(settings, segment, heard)
        took.append(time.perf_counter() - started)
        if segment.final:
            context.remember(segment, transcript.text)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="live_context_s to price")
    parser.add_argument("--parts", default="tuning,heldout")
    args = parser.parse_args()
    settings = KaptionSettings()
    everything = parts()
    for name in args.parts.split(","):
        part = everything[name]
        pcm = decode_audio(str(part.wav)).pcm
        items = detect(pcm, phrase_rules(settings), settings.live_chunk_s)
        segments = [item for _, item in items if isinstance(item, LiveSegment)]
        load = load_average()
        progress(f"{name}: {len(segments)} calls, load {load:.2f}")
        # Alternating runs of the whole part, so that drifts in the machine's load hit both.
        runs: dict[float, list[list[float]]] = {0.0: [], args.seconds: []}
        for seconds in (0.0, args.seconds, args.seconds, 0.0):
            runs[seconds].append(timed(settings, segments, seconds))
        alone = np.minimum(np.array(runs[0.0][0]), np.array(runs[0.0][1]))
        heard = np.minimum(np.array(runs[args.seconds][0]), np.array(runs[args.seconds][1]))
        finals = np.array([s.final for s in segments])
        print(
            f"{name} ({part.seconds:.0f} s, {len(segments)} calls, {finals.sum()} finals, load"
            f" {load:.2f}-{load_average():.2f}): call p50 / p95 alone"
            f" {np.percentile(alone, 50):.2f} / {np.percentile(alone, 95):.2f} s, after"
            f" {args.seconds:g} s {np.percentile(heard, 50):.2f}"
            f" / {np.percentile(heard, 95):.2f} s;"
            f" finals {heard[finals].sum() / alone[finals].sum():.2f}x, all calls"
            f" {heard.sum() / alone.sum():.2f}x; compute per second of audio"
            f" {alone.sum() / part.seconds:.2f} -> {heard.sum() / part.seconds:.2f}"
        )


if __name__ == "__main__":
    main()

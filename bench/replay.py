"""A live stream's replay through the file lane against `kaption run` on the same audio.

The speech file is ingested as a live stream (its chunks on live.audio, as fast as it is read),
then, on one warm worker running the file lane, jobs alternate: the stream's replay (source
``stream:<id>``, read back from live.audio) and a file job of the same audio (what `kaption
run` submits), each timed from submit to its subtitles. A short job first loads the model, so
neither side pays for it. Prints each time, the medians and replay / file (target <= 1.10).

Run: ``python bench/replay.py [--minutes 3] [--rounds 2]``. Progress goes to stderr, figures to
stdout (and bench/out/replay.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from common import (
    OUT,
    broker_with_topics,
    build_inputs,
    kaption_job,
    progress,
    quiet_enough,
    worker,
)

from clients.jobs import JobClient
from clients.live.replay import request_replay, word_count
from clients.live.session import StreamClient, ingest, read_source
from streams.events.model import JobState
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings

TARGET_RATIO = 1.10
STREAM = "bench-replay"


def timed_replay(settings: KaptionSettings, timeout_s: float) -> tuple[float, int]:
    """Seconds from the replay's request to its subtitles, and their words."""
    with JobClient(settings) as client:
        started = time.perf_counter()
        job_id = request_replay(client, STREAM)
        result = client.wait(job_id, timeout_s)
        seconds = time.perf_counter() - started
    if result.state is not JobState.COMPLETED or result.subtitles is None:
        raise RuntimeError(f"replay ended {result.state}: {result.status.reason}")
    return seconds, word_count(result.subtitles.vtt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    load = quiet_enough()
    inputs = build_inputs(args.minutes)
    progress(f"input {inputs.long_wav.name}: {inputs.long_seconds:.0f} s of speech")
    base = KaptionSettings(live_replay=False)  # the bench asks for the replay itself
    with broker_with_topics(base, "replay") as settings:
        with StreamClient(settings) as client:
            started = time.perf_counter()
            stop = threading.Event()
            end = ingest(client, STREAM, read_source(str(inputs.long_wav), settings, False, stop))
        progress(
            f"stream ingested: {end.media_time:.0f} s in {time.perf_counter() - started:.1f} s"
        )
        with worker(settings, FILE_STAGES, "replay") as process:
            alive = lambda: process.poll() is None  # noqa: E731
            warm = kaption_job(settings, inputs.short_wav, OUT / "replay-warm", alive, 600)
            progress(f"warm-up job: {warm.seconds:.1f} s")
            replays: list[float] = []
            files: list[float] = []
            words: dict[str, int] = {}
            for round_ in range(args.rounds):
                # Alternating which goes first evens out drift (caches, thermal, other load).
                order = ("replay", "file") if round_ % 2 == 0 else ("file", "replay")
                for kind in order:
                    if kind == "replay":
                        seconds, words["replay"] = timed_replay(settings, 3600)
                        replays.append(seconds)
                    else:
                        run = kaption_job(
                            settings, inputs.long_wav, OUT / "replay-file", alive, 3600
                        )
                        files.append(run.seconds)
                        words["file"] = len(run.text.split())
                    took = (replays if kind == "replay" else files)[-1]
                    progress(f"round {round_ + 1}: {kind} {took:.1f} s")
    replay_s, file_s = statistics.median(replays), statistics.median(files)
    ratio = replay_s / file_s
    figures = {
        "audio_s": round(inputs.long_seconds, 1),
        "rounds": args.rounds,
        "replay_s": [round(s, 2) for s in replays],
        "file_job_s": [round(s, 2) for s in files],
        "replay_median_s": round(replay_s, 2),
        "file_job_median_s": round(file_s, 2),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "words": words,
        "load_average_at_start": round(load, 2),
    }
    (OUT / "replay.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"audio: {inputs.long_seconds:.0f} s; rounds: {args.rounds}")
    print(f"replay of the stream (stream:{STREAM}): median {replay_s:.1f} s {figures['replay_s']}")
    print(f"file job, as kaption run submits it:  median {file_s:.1f} s {figures['file_job_s']}")
    print(f"words: replay {words.get('replay')}, file job {words.get('file')}")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"replay / file job: {ratio:.3f} ({verdict} the target <= {TARGET_RATIO:.2f})")


if __name__ == "__main__":
    main()

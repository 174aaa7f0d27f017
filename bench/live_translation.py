"""Live translation's latency: a speech file streamed at real-time pace into the live lane with
``--translate`` (Apertium en→es as translation.yaml configures it), on this machine.

Per final word: the caption latency from the capture of the audio that ends it to its final
publication in the source (cues-live) and to its publication in each target language
(translate-live), p50/p95/max as the cues carry them; the delay translation adds per word (the
two apart: for a word final in an interim, this includes the wait for its phrase's final, since
interims are not translated); per final, the translate-live hop alone (its translated
publication after the source's); the backend's time per call
(``kaption_inference_seconds{stage="translate-live"}``).

Run: ``python bench/live_translation.py [--minutes 1] [--translate es]``. Progress goes to
stderr, figures to stdout and bench/out/live-translation.json.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import urllib.request

from common import OUT, broker_with_topics, build_inputs, progress, quiet_enough, worker

from clients.live.session import Captions, StreamClient, ingest, read_source
from clients.live.status import latency_summary
from streams.events.model import LiveCue, LiveKind
from streams.runtime.processes import wait_ready
from streams.runtime.roles import LIVE_STAGES
from streams.settings import KaptionSettings

METRICS_PORT = 19_463
STREAM = "bench-translate"


def backend_seconds() -> tuple[float, float]:
    """translate-live's summed backend time and number of calls, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = [
        re.search(
            rf'kaption_inference_seconds_{part}\{{stage="translate-live"\}} ([0-9.e+-]+)', text
        )
        for part in ("sum", "count")
    ]
    total, calls = (float(f.group(1)) if f else 0.0 for f in found)
    return total, calls


def stream(settings: KaptionSettings, wav: str, languages: tuple[str, ...]) -> list[LiveCue]:
    """Streams ``wav`` asking for ``languages``; every final (source and translated) and gap."""
    captions = Captions(STREAM, lambda line: None, languages=languages)
    kept: list[LiveCue] = []

    def take(cues: list[LiveCue]) -> None:
        kept.extend(c for c in cues if c.stream_id == STREAM and c.kind != LiveKind.INTERIM)
        captions.take(cues)

    with StreamClient(settings) as client:
        started = time.perf_counter()
        items = read_source(wav, settings, True, threading.Event())
        ingest(client, STREAM, items, lambda: take(client.cues()), languages)
        elapsed = time.perf_counter() - started
        while not captions.done:
            take(client.cues(0.2))
            if time.perf_counter() - started > elapsed + 120:
                raise RuntimeError("no end of stream in every language")
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--translate", default="es", help="Target languages, e.g. es,de.")
    args = parser.parse_args()
    languages = tuple(x.strip() for x in args.translate.split(",") if x.strip())
    load = quiet_enough()
    inputs = build_inputs(args.minutes)
    progress(f"input {inputs.long_wav} ({inputs.long_seconds:.0f} s)")
    base = KaptionSettings(data_dir=OUT / "data", live_out_dir=OUT / "live-translation")
    with broker_with_topics(base, "live-translation") as settings:
        live_settings = settings.model_copy(update={"metrics_port": METRICS_PORT})
        with worker(live_settings, list(LIVE_STAGES), "live-translation") as process:
            wait_ready(METRICS_PORT, lambda: process.poll() is None, 180.0)
            progress(f"streaming {inputs.long_seconds:.0f} s at real-time pace into {languages}")
            cues = stream(live_settings, str(inputs.long_wav), languages)
            total, calls = backend_seconds()
    source = {c.seq: c for c in cues if c.kind == LiveKind.FINAL and not c.language}
    final = [w.final_latency_s for c in source.values() for w in c.words]
    figures: dict[str, object] = {
        "load_average_at_start": load,
        "stream_seconds": inputs.long_seconds,
        "source_final_s": latency_summary(final),
        "backend_call_s": total / calls if calls else None,
        "backend_calls": calls,
    }
    print(f"stream {inputs.long_seconds:.0f} s at real-time pace, load {load:.2f} at start")
    rows = [("source final", figures["source_final_s"])]
    for language in languages:
        done = [c for c in cues if c.language == language and c.kind == LiveKind.FINAL]
        latencies = [w.final_latency_s for c in done for w in c.words]
        added = [
            t.final_latency_s - s.final_latency_s
            for c in done
            for s, t in zip(source[c.seq].words, c.words, strict=True)
        ]
        # The translate-live hop alone: each final's translated publication after its source's.
        hop = [c.published_at - source[c.seq].published_at for c in done]
        gaps = [c.reason for c in cues if c.language == language and c.kind == LiveKind.GAP]
        figures[f"translated_{language}_s"] = latencies_of = latency_summary(latencies)
        figures[f"added_{language}_s"] = added_of = latency_summary(added)
        figures[f"hop_{language}_s"] = hop_of = latency_summary(hop)
        figures[f"gaps_{language}"] = gaps
        rows += [
            (f"translated {language}", latencies_of),
            (f"added by {language}", added_of),
            (f"{language} after source", hop_of),
        ]
    for label, s in rows:
        assert isinstance(s, dict)
        print(
            f"{label:20s} p50 {s['p50']:.2f} s  p95 {s['p95']:.2f} s  max {s['max']:.2f} s"
            f"  ({s['count']} {'finals' if label.endswith('after source') else 'words'})"
        )
    if calls:
        print(
            f"backend call (one final, one language) {total / calls * 1000:.0f} ms mean"
            f" over {calls:.0f}"
        )
    (OUT / "live-translation.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

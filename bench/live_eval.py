"""Live captions on the evaluation set (kaption issue 22): the file lane against the live lane,
on a tuning part and a held-out part (``live_eval_set.py``).

Per part:

1. the file lane's WER: one ``kaption run`` job of the part's file on a local broker and file
   worker (``--no-file-lane`` reuses the last figures in ``bench/out/live_eval/file_lane.json``);
2. the live lane as ``live_policy.py`` simulates it: the real speech detector on a virtual
   clock, one simulated transcription worker making the real model calls (each as long as it
   took, or ``--call-s``), the real ordering stage; the transcripts of one run are replayed under
   each caption policy, so policies compare on the same hypotheses. Per setting and policy: the
   final captions' WER and its difference from the file lane's in points, first appearance and
   final latency p50 / p95, words final before their phrase ended, compute / elapsed;
3. per item (from the words' times), both lanes' WER, for where a gap comes from.

Settings (``CONFIGS``, detection and interims: each costs a transcription of the part) and
policies (``live_policy.POLICIES``: free) are chosen on the tuning part only: among the
combinations whose tuning WER is at most ``TARGET_WER_PT`` points over the file lane, the one with
the lowest final p95. The held-out part is only reported. ``--end-to-end`` also streams the
held-out part through a real broker and live worker at real-time pace (``live.py``'s stream).

Run: ``python bench/live_eval.py [--configs default,chunk-0.25] [--parts tuning,heldout]
[--call-s S] [--no-file-lane] [--end-to-end]``. Transcripts are cached per part and setting in
``bench/out/live_eval/`` (``--fresh`` ignores them); figures go to ``live_eval.json`` there.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import broker_with_topics, kaption_job, load_average, progress, worker
from live_eval_set import FOLDER, build
from live_policy import POLICIES, Transcribed, detect, transcribe

from agents.cues.live_order import LiveOrderState, Policy, receive_step
from agents.cues.model import DEFAULT_RULES
from agents.decode.media import decode_audio
from agents.live.agent import phrase_rules
from agents.subtitles.render import parse_cues
from clients.live.status import latency_summary
from streams.events.audio import SAMPLE_RATE
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.wer import word_error_rate

HOP_S = 0.05
DEFAULT_POLICY = "2 agree"  # KaptionSettings' live_agreement and live_confident_commit
TARGET_WER_PT = 2.0
TARGET_FIRST_P95_S = 2.0
TARGET_FINAL_P95_S = 3.0
# Live settings that change what is transcribed (each a transcription of the part).
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "chunk-0.25": {"live_chunk_s": 0.25},
    "interim-0.5": {"live_interim_interval_s": 0.5},
    "silence-0.8": {"live_min_silence_s": 0.8},
    "phrase-5/10": {"live_soft_max_s": 5.0, "live_max_phrase_s": 10.0},
    "long": {"live_min_silence_s": 0.8, "live_soft_max_s": 5.0, "live_max_phrase_s": 10.0},
    "xlong": {"live_min_silence_s": 0.8, "live_soft_max_s": 8.0, "live_max_phrase_s": 15.0},
    # The defaults before 2026-12-05 were this with policy "3 + confident".
    "no-context": {"live_context_s": 0.0},
    "ctx-5": {"live_context_s": 5.0},
    "ctx-10": {"live_context_s": 10.0},
}


@dataclass
class Part:
    name: str
    wav: Path
    seconds: float
    reference: str
    items: list[dict[str, Any]]


def parts() -> dict[str, Part]:
    manifest = build()
    found = {}
    for name, rows in manifest.items():
        wav = FOLDER / f"{name}.wav"
        seconds = len(decode_audio(str(wav)).pcm) / SAMPLE_RATE
        reference = wav.with_suffix(".txt").read_text(encoding="utf-8")
        found[name] = Part(name, wav, seconds, reference, list(rows))
    return found


def item_of(items: list[dict[str, Any]], at: float) -> str:
    """The item whose span (widened to the gaps around it) holds ``at``."""
    for row in items:
        if at < float(row["end_s"]) + 0.75:
            return str(row["name"])
    return str(items[-1]["name"])


def item_texts(items: list[dict[str, Any]], timed: list[tuple[float, str]]) -> dict[str, str]:
    texts: dict[str, list[str]] = {str(row["name"]): [] for row in items}
    for at, text in timed:
        texts[item_of(items, at)].append(text)
    return {name: " ".join(words) for name, words in texts.items()}


def per_item(items: list[dict[str, Any]], texts: dict[str, str]) -> dict[str, float]:
    return {
        str(row["name"]): word_error_rate(str(row["text"]), texts[str(row["name"])])
        for row in items
    }


def pooled(items: list[dict[str, Any]], texts: dict[str, str], names: set[str]) -> float:
    """The WER over the named items only."""
    kept = [row for row in items if row["name"] in names]
    reference = " ".join(str(row["text"]) for row in kept)
    return word_error_rate(reference, " ".join(texts[str(row["name"])] for row in kept))


def file_item_texts(part: Part) -> dict[str, str]:
    """The file lane's text per item, from the job's subtitles (cues by their start time)."""
    srt = (FOLDER / f"file-{part.name}" / f"{part.name}.srt").read_text(encoding="utf-8")
    marker = " ".join(DEFAULT_RULES.gap_text.split())
    cues = [(c.start, " ".join(c.text.split())) for c in parse_cues(srt, "srt")]
    return item_texts(part.items, [(at, text) for at, text in cues if text != marker])


# --- the file lane ------------------------------------------------------------------------------


def file_lane(selected: list[Part]) -> dict[str, dict[str, Any]]:
    """One ``kaption run`` job per part on one broker and file worker: WER, overall and per item
    (cues by their start time)."""
    results: dict[str, dict[str, Any]] = {}
    base = KaptionSettings(data_dir=FOLDER / "data")
    with (
        broker_with_topics(base, "live-eval") as settings,
        worker(settings, list(FILE_STAGES), "live-eval-file") as process,
    ):
        for part in selected:
            progress(f"file lane: {part.name} ({part.seconds:.0f} s)")
            out = FOLDER / f"file-{part.name}"
            shutil.rmtree(out, ignore_errors=True)
            run = kaption_job(settings, part.wav, out, lambda: process.poll() is None, 1800)
            results[part.name] = {
                "wer": word_error_rate(part.reference, run.text),
                "seconds": run.seconds,
                "items": per_item(part.items, file_item_texts(part)),
                "text": run.text,
            }
    return results


# --- the live lane, simulated -------------------------------------------------------------------


def simulate(
    part: Part, config: str, call_s: float | None, fresh: bool
) -> tuple[Transcribed, float]:
    """The part's transcripts under one setting (cached), and the load average when made."""
    tag = f"{part.name}-{config.replace('/', '_')}-{call_s or 'measured'}"
    cache = FOLDER / f"sim-{tag}.pickle"
    if cache.exists() and not fresh:
        cached: tuple[Transcribed, float] = pickle.loads(cache.read_bytes())
        return cached
    update = dict(CONFIGS[config])
    context_interims = bool(update.pop("context_interims", True))
    settings = KaptionSettings().model_copy(update=update)
    pcm = decode_audio(str(part.wav)).pcm
    items = detect(pcm, phrase_rules(settings), settings.live_chunk_s)
    load = load_average()
    progress(f"live lane: {part.name}, {config}: {len(items)} items, load {load:.2f}")
    done = transcribe(settings, items, True, settings.whisper_beam_size, call_s, context_interims)
    cache.write_bytes(pickle.dumps((done, load)))
    return done, load


def replay(
    part: Part, done: Transcribed, policy: Policy, kept: set[str], file_kept: float
) -> dict[str, Any]:
    state = LiveOrderState()
    first: list[float] = []
    final: list[float] = []
    timed: list[tuple[float, str]] = []
    early = 0
    for at, transcript in done.outputs:
        step = receive_step(state, transcript, at + HOP_S, policy)
        state = step.state
        for phrase in step.phrases:
            early += phrase.committed
            first += [w.first_latency_s for w in phrase.words]
            final += [w.final_latency_s for w in phrase.words]
            timed += [(w.start, w.word) for w in phrase.words]
    texts = item_texts(part.items, timed)
    return {
        "wer": word_error_rate(part.reference, " ".join(w for _, w in timed)),
        # Without the items the file lane lost whole: the live WER, and its gap in points.
        "wer_kept": pooled(part.items, texts, kept),
        "gap_kept_pt": (pooled(part.items, texts, kept) - file_kept) * 100,
        "first_s": latency_summary(first),
        "final_s": latency_summary(final),
        "final_early": early,
        "final_words": len(final),
        "compute": done.busy_s / part.seconds,
        "items": per_item(part.items, texts),
    }


def line(label: str, row: dict[str, Any], file_wer: float) -> str:
    f, g = row["first_s"], row["final_s"]
    gap = (row["wer"] - file_wer) * 100
    return (
        f"{label:28s} {row['wer']:6.3f} {gap:+6.1f}  {f['p50']:5.2f} {f['p95']:5.2f}"
        f"  {g['p50']:5.2f} {g['p95']:5.2f}  {row['final_early']:4d}/{row['final_words']:<4d}"
        f" {row['compute']:5.2f}  {row.get('gap_kept_pt', math.nan):+6.1f}"
    )


HEADER = (
    f"{'setting / policy':28s} {'WER':>6s} {'d pt':>6s}  {'first p50 p95':>11s}"
    f"  {'final p50 p95':>11s}  {'early':>9s} {'comp':>5s}  {'d kept':>6s}"
)


def meets(row: dict[str, Any], file_wer: float) -> bool:
    return float(row["gap_kept_pt"]) <= TARGET_WER_PT + 1e-9


def choose(rows: dict[str, dict[str, Any]], file_wer: float) -> str | None:
    """On the tuning part: the lowest final p95 among combinations within the WER target."""
    fitting = [key for key, row in rows.items() if meets(row, file_wer)]
    if not fitting:
        return None
    return min(fitting, key=lambda key: (rows[key]["final_s"]["p95"], rows[key]["wer"]))


def pareto(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The trade-off curve: combinations no other beats on both the WER gap and final p95."""
    keys = sorted(rows, key=lambda key: (rows[key]["final_s"]["p95"], rows[key]["gap_kept_pt"]))
    curve: list[str] = []
    for key in keys:
        if not curve or rows[key]["gap_kept_pt"] < rows[curve[-1]]["gap_kept_pt"]:
            curve.append(key)
    return curve


def end_to_end(part: Part) -> dict[str, Any]:
    """The part streamed at real-time pace through a broker and a live worker (the defaults)."""
    from live import METRICS_PORT, stream

    from streams.runtime.processes import wait_ready
    from streams.runtime.roles import LIVE_STAGES

    base = KaptionSettings(data_dir=FOLDER / "data-live", live_out_dir=FOLDER / "live")
    load = load_average()
    with broker_with_topics(base, "live-eval-e2e") as settings:
        live_settings = settings.model_copy(update={"metrics_port": METRICS_PORT})
        with worker(live_settings, list(LIVE_STAGES), "live-eval-live") as process:
            wait_ready(METRICS_PORT, lambda: process.poll() is None, 180.0)
            progress(f"streaming {part.name} ({part.seconds:.0f} s) at real-time pace")
            hypotheses, computed, elapsed = stream(live_settings, part.wav, {})
    from common import OUT

    text = (OUT / "live-final.txt").read_text(encoding="utf-8")
    return {
        "load_average_at_start": load,
        "wer": word_error_rate(part.reference, text),
        "first_s": latency_summary(hypotheses.first),
        "final_s": latency_summary(hypotheses.finals),
        "final_early": hypotheses.committed,
        "final_words": len(hypotheses.finals),
        "compute": computed / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="default", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--parts", default="tuning,heldout")
    parser.add_argument("--call-s", type=float, default=None)
    parser.add_argument("--no-file-lane", action="store_true")
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="transcribe again, ignore caches")
    args = parser.parse_args()
    everything = parts()
    selected = [everything[name] for name in args.parts.split(",")]
    configs = args.configs.split(",")
    figures: dict[str, Any] = {"load_average_at_start": load_average(), "parts": {}}
    saved = FOLDER / "file_lane.json"
    files: dict[str, dict[str, Any]] = json.loads(saved.read_text()) if saved.exists() else {}
    if not args.no_file_lane:
        files.update(file_lane(selected))
        saved.write_text(json.dumps(files, indent=2) + "\n")
    for part in selected:
        file_wer = float(files[part.name]["wer"]) if part.name in files else math.nan
        file_texts = file_item_texts(part)
        # Items the file lane lost whole (no words at all) are a file-lane failure, not the
        # live lane's: "d kept" is the gap without them.
        kept = {name for name, text in file_texts.items() if text.strip()}
        file_kept = pooled(part.items, file_texts, kept)
        rows: dict[str, dict[str, Any]] = {}
        loads: dict[str, float] = {}
        for config in configs:
            done, loads[config] = simulate(part, config, args.call_s, args.fresh)
            for name, policy in POLICIES.items():
                rows[f"{config} | {name}"] = replay(part, done, policy, kept, file_kept)
        figures["parts"][part.name] = {
            "seconds": part.seconds,
            "file_lane_wer": file_wer,
            "file_lane_items": files.get(part.name, {}).get("items", {}),
            "file_lane_lost_items": sorted(set(file_texts) - kept),
            "file_lane_wer_kept": file_kept,
            "load_average_per_config": loads,
            "live": rows,
        }
        print(
            f"\n{part.name}: {part.seconds:.0f} s, {len(part.items)} items; file lane WER"
            f" {file_wer:.3f} ({file_kept:.3f} without items it lost whole:"
            f" {', '.join(sorted(set(file_texts) - kept)) or 'none'});"
            f" calls {'as measured' if args.call_s is None else args.call_s};"
            f" load {', '.join(f'{k} {v:.2f}' for k, v in loads.items())}"
        )
        print(HEADER)
        for key, row in rows.items():
            print(line(key, row, file_wer))
    tuning = figures["parts"].get("tuning")
    if tuning:
        chosen = choose(tuning["live"], tuning["file_lane_wer"])
        figures["chosen_on_tuning"] = chosen
        curve = pareto(tuning["live"])
        figures["tradeoff_on_tuning"] = curve
        held_rows = figures["parts"].get("heldout", {}).get("live", {})
        print("\ntrade-off on tuning (WER gap against final p95), then the same on held out:")
        for key in curve:
            t = tuning["live"][key]
            h = held_rows.get(key)
            print(
                f"  {key:28s} tuning {t['gap_kept_pt']:+5.1f} pt, final p95"
                f" {t['final_s']['p95']:.2f} s"
                + (
                    f"   held out {h['gap_kept_pt']:+5.1f} pt, {h['final_s']['p95']:.2f} s"
                    if h
                    else ""
                )
            )
        print(f"\nchosen on tuning (WER within +{TARGET_WER_PT} pt, lowest final p95): {chosen}")
        held = figures["parts"].get("heldout")
        if chosen and held and chosen in held["live"]:
            row = held["live"][chosen]
            gap = (row["wer"] - held["file_lane_wer"]) * 100
            print(
                f"held out: {line(chosen, row, held['file_lane_wer'])}\n  WER {gap:+.1f} pt"
                f" (target <= +{TARGET_WER_PT}) first p95 {row['first_s']['p95']:.2f}"
                f" (<= {TARGET_FIRST_P95_S}) final p95 {row['final_s']['p95']:.2f}"
                f" (<= {TARGET_FINAL_P95_S})"
            )
    for part in selected:
        live_items = figures["parts"][part.name]["live"]
        default = live_items.get(f"default | {DEFAULT_POLICY}")
        if default:
            file_items = figures["parts"][part.name]["file_lane_items"]
            print(f"\n{part.name} per item, WER file lane / live (default settings and policy):")
            for name, value in default["items"].items():
                print(f"  {name:26s} {file_items.get(name, math.nan):6.3f} {value:6.3f}")
    if args.end_to_end and "heldout" in everything:
        held_part = everything["heldout"]
        e2e = end_to_end(held_part)
        figures["heldout_end_to_end"] = e2e
        file_wer = float(files.get("heldout", {}).get("wer", math.nan))
        print("\nheld out, end to end at real-time pace (defaults):")
        print(HEADER)
        print(line("live.py stream", e2e, file_wer))
    figures["load_average_at_end"] = load_average()
    (FOLDER / "live_eval.json").write_text(json.dumps(figures, indent=2) + "\n")
    progress(f"figures in {FOLDER / 'live_eval.json'}")


if __name__ == "__main__":
    main()

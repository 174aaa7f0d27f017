"""Translation throughput (issue 19, item 4): each backend class against a direct call of the same
library with the same batch, and CTranslate2 against transformers.

For Apertium (Debian's eng-spa), transformers and CTranslate2, times ``translate`` of
agents.translate's backend and the bare library call on the same loaded model and the same texts
(one apertium process on the same blank-line-separated batch; tokenizer + ``generate`` +
``batch_decode``; tokenize + ``translate_batch`` + decode), in ABBA order, and prints target
tokens per second and the ratio backend time / direct time (target ≤ 1.10), from each side's
fastest run (the least disturbed on a shared machine). Both sides' outputs are checked equal.
Target tokens: the tokens the model generated; for Apertium, words.

No machine here has real MT weights, so the models are Marian models with random weights (which
write max_length tokens a text): the tiny one of the tests, and one of Opus-MT's size (6+6
layers, 512 wide, 58 101 tokens), whose decoding costs what a real opus-mt-* model's does. Each
backend runs in a process of its own (two OpenMP thread pools in one process slow each other).
A second row per backend times the translate stage's own path on the same texts as one task:
``agents.translate.agent.translated`` (the pair's backend from a translation.yaml, the batched
call, the re-flow into cues) behind the executor hop the stage makes, against the same direct
call (words compared, since the re-flow lays them out as cues).

Run: ``.venv/bin/python bench/translation.py [--texts 128] [--repeats 15] [--threads 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from agents.translate.agent import translated  # noqa: E402
from agents.translate.apertium import ApertiumTranslator, clean_marks  # noqa: E402
from agents.translate.ctranslate2_backend import CTranslate2Translator, convert  # noqa: E402
from agents.translate.marian import TransformersTranslator  # noqa: E402
from agents.translate.tiny import OPUS_MT, SENTENCES, TINY, build_tiny_marian  # noqa: E402
from streams.events.model import SourceCue, TranslateRequested  # noqa: E402
from streams.settings import KaptionSettings  # noqa: E402

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Kafka carries every event between the stages of the pipeline.",
    "Subtitles appear on the screen while people are speaking.",
    *SENTENCES[:15],
]
MAX_LENGTH = 32  # target tokens a text (the random models always write this many)


def timed(call: Callable[[], list[str]]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def words(texts: Sequence[str]) -> list[str]:
    return [" ".join(" ".join(texts).split())]


def stage_call(pair: dict[str, object], texts: Sequence[str]) -> Callable[[], list[str]]:
    """The translate stage's path for one task of ``texts`` (en -> xx as ``pair`` configures),
    behind one executor hop as the stage makes it; returns the cues' words."""
    work = Path(tempfile.mkdtemp(prefix="kaption-translation-stage-"))
    config = work / "translation.yaml"
    config.write_text(json.dumps({"pairs": {"en-xx": pair}}), encoding="utf-8")  # JSON is YAML
    settings = KaptionSettings(translation_file=config)
    task = TranslateRequested(
        job_id="bench",
        task_id="bench:xx",
        name="bench",
        source_language="en",
        language="xx",
        cues=tuple(
            SourceCue(start=2.0 * i, end=2.0 * i + 1.9, text=t) for i, t in enumerate(texts)
        ),
    )
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(max_workers=1)

    def call() -> list[str]:
        cues, _ = loop.run_until_complete(loop.run_in_executor(pool, translated, settings, task))
        return words([cue.text for cue in cues.cues])

    return call


def compare(
    label: str,
    backend: Callable[[], list[str]],
    direct: Callable[[], list[str]],
    tokens: int,
    repeats: int,
) -> float:
    """Times both calls in ABBA order, checks they agree, prints the figures; the backend's
    fastest run in seconds."""
    backend(), direct()  # warm-up: caches, thread pools, first-call allocations
    through: list[float] = []
    bare: list[float] = []
    for i in range(repeats):
        pair = [(through, backend), (bare, direct)]
        for times, call in pair if i % 2 == 0 else reversed(pair):
            took, out = timed(call)
            times.append(took)
            if call is backend:
                out_backend = out
            else:
                out_direct = out
    assert out_backend == out_direct, f"{label}: the backend and the direct call disagree"
    best_backend, best_direct = min(through), min(bare)
    print(
        f"{label:<36} {tokens:>6} target tokens   backend {tokens / best_backend:>8.0f} tok/s"
        f"   direct {tokens / best_direct:>8.0f} tok/s   ratio {best_backend / best_direct:.3f}",
        flush=True,
    )
    return best_backend


def bench_apertium(texts: Sequence[str], repeats: int) -> float:
    translator = ApertiumTranslator("eng-spa")

    def direct() -> list[str]:
        run = ["apertium", "-u", "eng-spa"]
        done = subprocess.run(
            run, input="\n\n".join(texts), capture_output=True, text=True, check=True
        )
        parts = done.stdout.strip("\n").split("\n\n")
        return [clean_marks(s, t) for s, t in zip(texts, parts, strict=True)]

    count = sum(len(t.split()) for t in translator.translate(texts))
    stage = stage_call({"backend": "apertium", "mode": "eng-spa"}, texts)
    compare("  stage, apertium eng-spa", stage, lambda: words(direct()), count, repeats)
    return compare("apertium eng-spa", lambda: translator.translate(texts), direct, count, repeats)


def bench_transformers(
    model_dir: Path, texts: Sequence[str], repeats: int, threads: int, batch: int, label: str
) -> float:
    import torch

    hf = TransformersTranslator(
        model_dir, batch_size=batch, beam_size=1, max_length=MAX_LENGTH, threads=threads
    )
    # The direct call uses the backend's own loaded model: the ratio is the wrapper's cost.
    tokenizer, model = hf._tokenizer, hf._model
    chunks = [list(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    generated = 0

    def direct() -> list[str]:
        nonlocal generated
        out: list[str] = []
        generated = 0
        for chunk in chunks:
            inputs = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True)
            with torch.inference_mode():
                ids = model.generate(
                    **inputs,
                    num_beams=1,
                    max_new_tokens=MAX_LENGTH,
                    min_new_tokens=1,
                    do_sample=False,
                )
            generated += int((ids[:, 1:] != tokenizer.pad_token_id).sum())
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
        return out

    direct()
    pair = {"backend": "transformers", "model": str(model_dir), "batch_size": batch,
            "beam_size": 1, "max_length": MAX_LENGTH, "threads": threads}  # fmt: skip
    stage = stage_call(pair, texts)
    compare(f"  stage, transformers {label}", stage, lambda: words(direct()), generated, repeats)
    return compare(f"transformers {label}", lambda: hf.translate(texts), direct, generated, repeats)


def bench_ctranslate2(
    model_dir: Path,
    texts: Sequence[str],
    repeats: int,
    threads: int,
    batch: int,
    label: str,
    compute_type: str,
) -> float:
    ct2 = CTranslate2Translator(
        model_dir,
        batch_size=batch,
        beam_size=1,
        max_length=MAX_LENGTH,
        threads=threads,
        compute_type=compute_type,
    )
    tokenizer, bare = ct2._tokenizer, ct2._translator
    generated = 0

    def direct() -> list[str]:
        nonlocal generated
        tokens = [tokenizer.convert_ids_to_tokens(tokenizer.encode(t)) for t in texts]
        results = bare.translate_batch(
            tokens, beam_size=1, max_decoding_length=MAX_LENGTH, max_batch_size=batch
        )
        generated = sum(len(r.hypotheses[0]) for r in results)
        return [
            tokenizer.decode(
                tokenizer.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True
            )
            for r in results
        ]

    direct()
    name = f"ctranslate2 {compute_type} {label}"
    pair = {"backend": "ctranslate2", "model": str(model_dir), "batch_size": batch,
            "beam_size": 1, "max_length": MAX_LENGTH, "threads": threads,
            "compute_type": compute_type}  # fmt: skip
    stage = stage_call(pair, texts)
    compare(f"  stage, {name}", stage, lambda: words(direct()), generated, repeats)
    return compare(name, lambda: ct2.translate(texts), direct, generated, repeats)


def run_part(args: argparse.Namespace) -> None:
    """One backend's measurement (in a process of its own); its seconds go to stdout's end."""
    texts = [ENGLISH[i % len(ENGLISH)] for i in range(args.texts)]
    model = Path(args.model) if args.model else Path()
    if args.part == "apertium":
        seconds = bench_apertium(texts, args.repeats)
    elif args.part == "transformers":
        seconds = bench_transformers(
            model, texts, args.repeats, args.threads, args.batch, args.label
        )
    else:
        seconds = bench_ctranslate2(
            model, texts, args.repeats, args.threads, args.batch, args.label, args.part[12:]
        )
    print(json.dumps({"seconds": seconds}))


def part(argv: list[str]) -> float:
    """Runs one part in a fresh interpreter; echoes its figures, returns its seconds."""
    done = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=True
    )
    *lines, last = done.stdout.strip().splitlines()
    print("\n".join(lines), flush=True)
    return float(json.loads(last)["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="texts per batch")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the models")
    parser.add_argument("--batch", type=int, default=16, help="texts per model call")
    parser.add_argument("--opus-mt-texts", type=int, default=32, help="0: skip that model")
    parser.add_argument("--opus-mt-repeats", type=int, default=3)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        run_part(args)
        return
    common = ["--threads", str(args.threads), "--batch", str(args.batch)]
    print(f"{args.texts} texts, fastest of {args.repeats} runs, {args.threads} threads")
    part(["--part", "apertium", "--texts", str(args.texts), "--repeats", str(args.repeats)])
    work = Path(tempfile.mkdtemp(prefix="kaption-translation-bench-"))
    sizes = [(TINY, "(tiny Marian)", args.texts, args.repeats, ["float32"])]
    if args.opus_mt_texts:
        sizes.append((OPUS_MT, "(Opus-MT size)", args.opus_mt_texts, args.opus_mt_repeats,
                      ["float32", "int8"]))  # fmt: skip
    for shape, label, count, repeats, compute_types in sizes:
        model = build_tiny_marian(work / f"marian-{shape.d_model}", eos_bias=0.0, shape=shape)
        converted = convert(model, model.with_name(model.name + "-ct2"))
        run = [*common, "--texts", str(count), "--repeats", str(repeats), "--label", label]
        if shape is OPUS_MT:
            print(f"{count} texts, fastest of {repeats} runs, Opus-MT-sized Marian")
        hf = part([*run, "--part", "transformers", "--model", str(model)])
        for compute_type in compute_types:
            ct2 = part([*run, "--part", f"ctranslate2-{compute_type}", "--model", str(converted)])
            print(f"  ctranslate2 {compute_type} is {hf / ct2:.2f}x transformers {label}")


if __name__ == "__main__":
    main()

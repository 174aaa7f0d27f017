"""Translation throughput (issue 19, item 4): each backend class against a direct call of the same
library with the same batch, and CTranslate2 against transformers.

For Apertium (Debian's eng-spa), transformers and CTranslate2 (a tiny Marian model built here:
random weights, outputs running to the length limit, since no machine here has real MT weights),
times ``translate`` of agents.translate's backend and the bare library call on the same texts
(one apertium process on the same blank-line-separated batch; tokenizer + ``generate`` +
``batch_decode``; tokenize + ``translate_batch`` + decode), alternating the two, and prints target
tokens per second and the ratio backend time / direct time (target ≤ 1.10). Target tokens: the
model tokenizer's pieces of the outputs; for Apertium, words. Both calls' outputs are checked
equal. The translate stage itself (the lead's) adds an executor hop per batch on top.

Run: ``.venv/bin/python bench/translation.py [--texts 64] [--repeats 7] [--threads 2]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from agents.translate.apertium import ApertiumTranslator, clean_marks  # noqa: E402
from agents.translate.ctranslate2_backend import CTranslate2Translator, convert  # noqa: E402
from agents.translate.marian import TransformersTranslator  # noqa: E402
from agents.translate.tiny import SENTENCES, build_tiny_marian  # noqa: E402

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Kafka carries every event between the stages of the pipeline.",
    "Subtitles appear on the screen while people are speaking.",
    *SENTENCES[:15],
]
MAX_LENGTH = 32  # target tokens a text (the tiny model always writes this many)


def timed(call: Callable[[], list[str]], repeats: int) -> tuple[list[float], list[str]]:
    times, out = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return times, out


def compare(
    label: str,
    backend: Callable[[], list[str]],
    direct: Callable[[], list[str]],
    count: Callable[[list[str]], int],
    repeats: int,
) -> float:
    """Alternates the two calls, checks they agree, prints the figures."""
    backend(), direct()  # warm-up: caches, threads, first-call allocations
    through: list[float] = []
    bare: list[float] = []
    for i in range(repeats):
        # ABBA order: a slow spell on this shared machine falls on both calls alike.
        first, second = (backend, direct) if i % 2 == 0 else (direct, backend)
        t_first, out_first = timed(first, 1)
        t_second, out_second = timed(second, 1)
        t_backend, out_backend = (t_first, out_first) if i % 2 == 0 else (t_second, out_second)
        t_direct, out_direct = (t_second, out_second) if i % 2 == 0 else (t_first, out_first)
        through += t_backend
        bare += t_direct
    assert out_backend == out_direct, f"{label}: the backend and the direct call disagree"
    tokens = count(out_backend)
    # The fastest run of each: the one least disturbed by the other work on a shared machine.
    m_backend, m_direct = min(through), min(bare)
    ratio = m_backend / m_direct
    print(
        f"{label:<28} {tokens:>6} target tokens   backend {tokens / m_backend:>9.0f} tok/s"
        f"   direct {tokens / m_direct:>9.0f} tok/s   ratio {ratio:.3f}  (target ≤ 1.10)"
    )
    return m_backend


def bench_apertium(texts: Sequence[str], repeats: int) -> None:
    translator = ApertiumTranslator("eng-spa")

    def direct() -> list[str]:
        done = subprocess.run(
            ["apertium", "-u", "eng-spa"],
            input="\n\n".join(texts),
            capture_output=True,
            text=True,
            check=True,
        )
        parts = done.stdout.strip("\n").split("\n\n")
        return [clean_marks(s, t) for s, t in zip(texts, parts, strict=True)]

    compare(
        "apertium eng-spa",
        lambda: translator.translate(texts),
        direct,
        lambda out: sum(len(t.split()) for t in out),
        repeats,
    )


def bench_models(texts: Sequence[str], repeats: int, threads: int, batch: int) -> None:
    import torch

    work = Path(tempfile.mkdtemp(prefix="kaption-translation-bench-"))
    # eos_bias 0: the random model writes max_length tokens a text, a fixed amount of work.
    model_dir = build_tiny_marian(work / "opus-mt-tiny", eos_bias=0.0)
    ct2_dir = convert(model_dir, work / "opus-mt-tiny-ct2")
    hf = TransformersTranslator(
        model_dir, batch_size=batch, beam_size=1, max_length=MAX_LENGTH, threads=threads
    )
    ct2 = CTranslate2Translator(
        ct2_dir, batch_size=batch, beam_size=1, max_length=MAX_LENGTH, threads=threads
    )
    # The direct calls use the backends' own loaded objects: the ratio is then the wrapper's
    # cost alone (two instances of one model in a process disturb each other's timings).
    tokenizer, model, bare = hf._tokenizer, hf._model, ct2._translator
    chunks = [list(texts[i : i + batch]) for i in range(0, len(texts), batch)]

    def count(out: list[str]) -> int:
        return sum(len(tokenizer.tokenize(text)) for text in out)

    def direct_hf() -> list[str]:
        out: list[str] = []
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
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
        return out

    def direct_ct2() -> list[str]:
        tokens = [tokenizer.convert_ids_to_tokens(tokenizer.encode(t)) for t in texts]
        results = bare.translate_batch(
            tokens, beam_size=1, max_decoding_length=MAX_LENGTH, max_batch_size=batch
        )
        return [
            tokenizer.decode(
                tokenizer.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True
            )
            for r in results
        ]

    s_hf = compare(
        "transformers (tiny Marian)", lambda: hf.translate(texts), direct_hf, count, repeats
    )
    s_ct2 = compare(
        "ctranslate2 (tiny Marian)", lambda: ct2.translate(texts), direct_ct2, count, repeats
    )
    assert hf.translate(texts) == ct2.translate(texts)
    print(f"ctranslate2 / transformers speed (same outputs, greedy): {s_hf / s_ct2:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="texts per batch")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the models")
    parser.add_argument("--batch", type=int, default=16, help="texts per model call")
    args = parser.parse_args()
    texts = [ENGLISH[i % len(ENGLISH)] for i in range(args.texts)]
    print(f"{args.texts} texts, {args.repeats} runs each (fastest), {args.threads} threads")
    bench_apertium(texts, args.repeats)
    bench_models(texts, args.repeats, args.threads, args.batch)


if __name__ == "__main__":
    main()

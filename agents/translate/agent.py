"""translate: TranslateRequested -> CuesReady in the target language (NAME.<language>), or
TranslationFailed for that language alone.

One task per (job, target language), keyed so that a job's languages spread over the stage's
consumer group; each task is one batched call of the pair's backend (translation.yaml) in the
executor. A task whose cues were spoken in several languages (per-segment detection) keeps
those already in the target and translates each other language's with its own pair. Translations
keep their source cues' timing and are re-flowed to the cue rules.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from agents.translate.backends import TranslationUnavailable, Translator
from agents.translate.config import TranslationConfigError, load_config
from agents.translate.factory import open_translator
from agents.translate.reflow import reflow
from streams.broker.topics import Outgoing
from streams.events.model import CuesReady, TranslateRequested, TranslationFailed
from streams.job_options import translation_name
from streams.runtime.metrics import METRICS
from streams.runtime.retry import RetryPolicy
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

INPUTS = ("translate.requested",)

log = logging.getLogger(__name__)


@cache
def translator(settings: KaptionSettings, source: str, target: str) -> Translator:
    """The pair's backend, loaded once per process (a model takes seconds to load)."""
    pair = load_config(settings.translation_file).for_pair(source, target)
    return open_translator(pair)


def translated(settings: KaptionSettings, task: TranslateRequested) -> tuple[CuesReady, float]:
    """The task's cues in the target language: cues already in it kept as transcribed, each
    other source language's cues translated by its own pair's backend in one batched call; in
    cue order, each translation keeping its source cue's timing. A source language whose pair
    is not configured fails the whole target (TranslationConfigError names the pair)."""
    groups: dict[str, list[int]] = {}
    for index, cue in enumerate(task.cues):
        groups.setdefault(cue.language or task.source_language, []).append(index)
    texts = [cue.text for cue in task.cues]
    backends: list[Translator] = []
    took = 0.0
    for source, indices in groups.items():
        if source == task.language:
            continue  # spoken in the target already: kept as transcribed
        backend = translator(settings, source, task.language)
        started = time.perf_counter()
        out = backend.translate([texts[i] for i in indices])
        took += time.perf_counter() - started
        for index, text in zip(indices, out, strict=True):
            texts[index] = text
        backends.append(backend)
    labels = list(dict.fromkeys(f"{b.name}@{b.version}" for b in backends))
    cues = CuesReady(
        job_id=task.job_id,
        name=translation_name(task.name, task.language),
        language=task.language,
        cues=tuple(reflow(task.cues, texts)),
        translated=True,
        model=", ".join(labels) or "transcript (spoken in the target language)",
        model_version=", ".join(dict.fromkeys(b.version for b in backends)),
    )
    return cues, took


def failed(task: TranslateRequested, error: BaseException) -> list[Outgoing]:
    """That language fails with the reason; the job's other languages go on."""
    cause = getattr(error, "cause", error)
    event = TranslationFailed(
        job_id=task.job_id,
        language=task.language,
        reason=reason(cause),
        error_class=type(cause).__name__,
    )
    return [Outgoing("translations.failed", event)]


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    inference_seconds = METRICS.inference_seconds.labels("translate")

    async def handle(task: TranslateRequested) -> list[Outgoing]:
        cues, took = await platform.run_blocking(translated, settings, task)
        inference_seconds.observe(took)
        log.info(
            "job %s: %d cues into %s in %.2f s",
            task.job_id,
            len(task.cues),
            task.language,
            took,
            extra={"job_id": task.job_id},
        )
        return [Outgoing("cues.ready", cues)]

    # A pair nobody configured, or a model missing or corrupt, fails the same way every time.
    policy = RetryPolicy(
        attempts=settings.transcribe_attempts,
        permanent=(TranslationUnavailable, TranslationConfigError),
        first_backoff_s=0.5,
    )
    stage.agent(INPUTS, handle, on_failure=lambda key, error: [], retry=policy, give_up=failed)

"""translate-live: live cues of streams that asked for target languages -> translated finals and
the stream's marks per language on live.translated (agents/translate/live.py).

A consumer group of its own beside the live lane, reading live.cues after cues-live published
them, so translation never delays the source captions and scales apart from them. A stream's
languages come with its start (LiveStreamStarted on live.streams, co-partitioned with
live.cues; cues read before it wait for it in memory); its state (languages, stopped ones,
where each language's cues end) is a small JSON value in a changelog-backed table. Each final
is one batched call of the pair's backend (translation.yaml, loaded when the stream starts) per
language, in a lane of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from agents.translate.agent import translator
from agents.translate.backends import TranslationUnavailable
from agents.translate.config import TranslationConfigError
from agents.translate.live import (
    Early,
    StreamLanguages,
    failed_gap,
    passed_on,
    source_texts,
    started,
    translated_final,
)
from streams.broker.topics import Outgoing
from streams.events.model import LiveCue, LiveKind, LiveStreamStarted
from streams.job_options import AUTO
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

INPUTS = ("live.streams", "live.cues")
LANE = "live-translate"
# A pair nobody configured, or a model missing or corrupt: the same every time, so the language
# stops; any other error costs one phrase.
PERMANENT = (TranslationUnavailable, TranslationConfigError)

log = logging.getLogger(__name__)


def source_language(settings: KaptionSettings) -> str:
    """The language a stream is expected to speak: the deployment's; with "auto", English.
    Its pairs are loaded when the stream starts; a final that says it was spoken in another
    (``phrase_source``) is translated from that one."""
    return "en" if settings.language == AUTO else settings.language


def phrase_source(settings: KaptionSettings, cue: LiveCue) -> str:
    """The final's spoken language: as transcribe-live heard it (the stream's once fixed), else
    (an older record) the expected one."""
    return cue.source_language or source_language(settings)


def opened(
    settings: KaptionSettings, source: str, languages: Sequence[str]
) -> dict[str, Exception]:
    """Loads each pair's backend (once per process) before the stream's first final needs it;
    returns the languages that cannot be served, with why."""
    unusable: dict[str, Exception] = {}
    for language in languages:
        if language == source:
            continue  # kept as transcribed
        try:
            translator(settings, source, language)
        except PERMANENT as error:
            unusable[language] = error
    return unusable


def translate_texts(
    settings: KaptionSettings, source: str, language: str, texts: Sequence[str]
) -> list[str]:
    """``texts`` in ``language``: spoken in it already, kept as transcribed (as file jobs
    keep such cues)."""
    if source == language:
        return list(texts)
    return translator(settings, source, language).translate(texts)


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    source = source_language(settings)
    states = stage.table("translate.live", stage.partitions(INPUTS))  # stream id -> state
    latency = METRICS.live_latency_seconds.labels("translated")
    inference_seconds = METRICS.inference_seconds.labels("translate-live")
    early = Early()  # cues read before their stream's start

    def failed(stream_id: str, language: str, why: str, error_class: str) -> None:
        log.warning("stream %s: no translation into %s: %s", stream_id, language, why)
        METRICS.live_translation_failures.labels(error_class).inc()

    async def start(event: LiveStreamStarted) -> list[Outgoing]:
        # Known from now on, translated or not (a reused id forgets its last run's languages).
        state = started(event)
        unusable = await platform.run_in_lane(LANE, opened, settings, source, state.languages)
        for language, error in unusable.items():
            state.failed[language] = reason(error)
            failed(event.stream_id, language, reason(error), type(error).__name__)
        states[event.stream_id] = state.to_dict()
        if state.languages:
            log.info(
                "stream %s: live translation into %s", event.stream_id, ", ".join(state.live())
            )
        for cue in early.claim(event):  # in order: each is published before the next
            await stage.publish_all(await received(cue))
        return []

    async def timed(spoken: str, language: str, texts: Sequence[str]) -> list[str]:
        began = time.perf_counter()
        done = await platform.run_in_lane(LANE, translate_texts, settings, spoken, language, texts)
        inference_seconds.observe(time.perf_counter() - began)
        return done

    async def translate(state: StreamLanguages, cue: LiveCue) -> None:
        """Each language's final (or gap) published as soon as it is ready, so one language
        does not wait for the next."""
        texts = source_texts(cue)
        spoken = phrase_source(settings, cue)
        for language in state.languages:
            why = state.failed.get(language)
            if why is not None:  # stopped: its gap says why, once
                if language not in state.shown:
                    state.shown.add(language)
                    gap = failed_gap(cue, language, why, time.time())
                    await stage.publish(Outgoing("live.translated", gap))
                continue
            try:
                done = await timed(spoken, language, texts) if texts else []
            except Exception as error:  # the source captions go on whatever happens here
                why = reason(error)
                failed(cue.stream_id, language, why, type(error).__name__)
                # A pair that cannot serve the stream's expected language stops the language;
                # one phrase heard in another (a short phrase misheard, a guest's quote) costs
                # that phrase.
                if isinstance(error, PERMANENT) and spoken == source:
                    state.failed[language] = why
                    state.shown.add(language)
                gap = failed_gap(cue, language, why, time.time())
                await stage.publish(Outgoing("live.translated", gap))
                continue
            floor = state.cue_end.get(language, 0.0)
            final = translated_final(cue, language, done, floor, time.time())
            state.cue_end[language] = max([floor, *(c.end for c in final.cues)])
            for word in final.words:
                latency.observe(word.final_latency_s)
            await stage.publish(Outgoing("live.translated", final))

    async def received(cue: LiveCue) -> list[Outgoing]:
        if cue.kind is LiveKind.INTERIM:
            return []  # not translated
        stored = states.get(cue.stream_id)
        if stored is None:  # its start is still to come (or it has none: an older ingest)
            early.hold(cue)
            return []
        state = StreamLanguages.from_dict(stored)
        if cue.kind is LiveKind.END:
            states.pop(cue.stream_id, None)
        if not state.languages:
            return []
        if cue.kind is LiveKind.FINAL:
            await translate(state, cue)
            states[cue.stream_id] = state.to_dict()
            return []
        return [Outgoing("live.translated", c) for c in passed_on(state, cue, time.time())]

    async def handle(event: LiveStreamStarted | LiveCue) -> list[Outgoing]:
        if isinstance(event, LiveStreamStarted):
            return await start(event)
        return await received(event)

    stage.agent(INPUTS, handle, on_failure=lambda key, error: [])

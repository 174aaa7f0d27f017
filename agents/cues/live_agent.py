"""cues-live: a stream's LiveTranscripts (from transcription and speech detection) -> LiveCues
in media order, interims stabilised, finals laid out by the cue rules with per-word latency.

Pure work in agents/cues/live_order.py; each stream's state (its place in the sequence, items
waiting for a late phrase, the phrase being spoken) is a small JSON value in a changelog-backed
table, written after every event, so a restarted worker goes on where the last one stopped.
"""

from __future__ import annotations

import logging
import time

from agents.cues.live_order import (
    ConfidentCommit,
    LiveOrderState,
    PhraseLatency,
    Policy,
    receive_step,
)
from streams.broker.topics import Outgoing
from streams.events.model import LiveTranscript
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage
from streams.settings import KaptionSettings

INPUTS = ("live.transcripts",)

log = logging.getLogger(__name__)


def observe_latencies(phrase: PhraseLatency) -> None:
    """Each final word's first and final latency into `kaption_live_caption_latency_seconds`,
    once, when its phrase's final is released (a word's first publication may be an interim
    long before, but only the final knows which interim words survived)."""
    first = METRICS.live_latency_seconds.labels("first")
    final = METRICS.live_latency_seconds.labels("final")
    for word in phrase.words:
        first.observe(word.first_latency_s)
        final.observe(word.final_latency_s)


def confident_commit(settings: KaptionSettings) -> ConfidentCommit | None:
    """The settings' rule for words final on one interim (None: agreement alone)."""
    if not settings.live_confident_commit:
        return None
    return ConfidentCommit(
        min_probability=settings.live_confident_min_probability,
        margin_s=settings.live_confident_margin_s,
        min_heard_s=settings.live_confident_min_heard_s,
    )


def register(stage: Stage) -> None:
    timeout_s = stage.settings.live_order_timeout_s
    policy = Policy(
        order_timeout_s=timeout_s,
        agreement=stage.settings.live_agreement,
        confident=confident_commit(stage.settings),
    )
    states = stage.table("cues.live", stage.partitions(INPUTS))  # stream id -> state dict

    async def handle(transcript: LiveTranscript) -> list[Outgoing]:
        stored = states.get(transcript.stream_id)
        state = (
            LiveOrderState(stream_id=transcript.stream_id)
            if stored is None
            else LiveOrderState.from_dict(stored)
        )
        step = receive_step(state, transcript, time.time(), policy)
        if step.state.next_seq == 0 and step.state.head is None and not step.state.held:
            states.pop(transcript.stream_id, None)  # ended (or nothing yet): nothing to keep
        else:
            states[transcript.stream_id] = step.state.to_dict()
        for phrase in step.phrases:
            observe_latencies(phrase)
            log.debug(
                "stream %s phrase %d: %d interims, %d words flickered, %d of %d final early",
                transcript.stream_id,
                phrase.seq,
                phrase.interims,
                phrase.flickered,
                phrase.committed,
                len(phrase.words),
            )
        return [Outgoing("live.cues", cue) for cue in step.cues]

    stage.agent(INPUTS, handle, on_failure=lambda key, error: [])

    @stage.app.timer(interval=max(1.0, timeout_s / 4))
    async def nudge_stuck_streams() -> None:
        """A stream whose next phrase never comes (its transcript was dead-lettered) and that
        sends nothing more (it ended) would wait forever: its newest waiting item goes round
        again, and handling it (a duplicate, dropped) gives up the missing phrase as a gap.
        Only the agent may change the state, so the timer does not skip it itself."""
        now = time.time()
        for stored in list(states.values()):
            waiting = stored and stored.get("waiting_since")
            if waiting and now - waiting > timeout_s and stored["held"]:
                newest = LiveTranscript.from_record(stored["held"][-1])
                await stage.publish(Outgoing("live.transcripts", newest))

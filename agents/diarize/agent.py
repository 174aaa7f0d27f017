"""diarize: AudioReady -> SpeakersFound, for jobs that ask for speaker labels.

It reads the decoded windows beside speech detection, in its own consumer group, so audio
crosses Kafka no extra time and transcription never waits for it; the cue stage joins the two
(agents/cues/speakers.py), once the orchestrator has every window's speakers. A window whose
speakers cannot be found (the extra or its weights missing, bad audio) says why in its
SpeakersFound: the job ends PARTIAL with that reason and its cues come without labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from streams.broker.topics import Outgoing
from streams.events.audio import CorruptAudioError, pcm_from_bytes
from streams.events.model import AudioReady, SpeakersFound, SpeakerTurn, Voice
from streams.runtime.metrics import inference_observer
from streams.runtime.retry import RetryPolicy
from streams.runtime.stage import Stage
from streams.settings import KaptionSettings

if TYPE_CHECKING:  # torch and pyannote: imported on the first job that asks for speakers
    from agents.diarize.backend import Diarizer, WindowSpeakers

INPUTS = ("audio.ready",)
LANE = "diarize"  # its own thread: a window's diarization does not hold up other stages' work


def failed(audio: AudioReady, reason: str) -> SpeakersFound:
    return SpeakersFound(job_id=audio.job_id, window=audio.window, last=audio.last, error=reason)


def found(audio: AudioReady, speakers: WindowSpeakers, model: str) -> SpeakersFound:
    """The window's turns in absolute media seconds."""
    return SpeakersFound(
        job_id=audio.job_id,
        window=audio.window,
        last=audio.last,
        turns=tuple(
            SpeakerTurn(start=audio.offset + start, end=audio.offset + end, speaker=speaker)
            for start, end, speaker in speakers.turns
        ),
        voices=tuple(
            Voice(
                speaker=speaker,
                embedding=tuple(speakers.embeddings.get(speaker, ())),
                seconds=seconds,
            )
            for speaker, seconds in sorted(speakers.seconds.items())
        ),
        model=model,
    )


def loader(settings: KaptionSettings) -> Callable[[], Diarizer]:
    """The worker's diarizer, loaded on first use and kept; a failed load is tried again for
    the next window (weights may be put in place meanwhile)."""
    loaded: list[Diarizer] = []

    def get() -> Diarizer:
        if not loaded:
            from agents.diarize.backend import Diarizer

            loaded.append(
                Diarizer(
                    settings.diarize_segmentation,
                    settings.diarize_embedding,
                    settings.diarize_pipeline,
                    settings.diarize_device,
                    settings.diarize_threads,
                    settings.diarize_step,
                    settings.diarize_threshold,
                )
            )
        return loaded[0]

    return get


def register(stage: Stage) -> None:
    settings = stage.settings
    diarizer = loader(settings)
    observe = inference_observer("diarize")

    def diarize(audio: AudioReady) -> SpeakersFound:
        from agents.diarize.backend import DiarizeError

        started = time.perf_counter()
        try:
            model = diarizer()
            speakers = model(pcm_from_bytes(audio.pcm).astype("float32") / 32768.0)
        except (DiarizeError, CorruptAudioError) as error:  # no retry, no dead letter: it says why
            return failed(audio, str(error))
        observe(audio.duration, time.perf_counter() - started)
        return found(audio, speakers, model.model)

    async def handle(audio: AudioReady) -> list[Outgoing]:
        if not audio.speakers:
            return []  # most jobs: nothing to do
        result = await stage.platform.run_in_lane(LANE, diarize, audio)
        return [Outgoing("speakers.found", result)]

    def give_up(audio: AudioReady, error: BaseException) -> list[Outgoing]:
        return [Outgoing("speakers.found", failed(audio, f"{type(error).__name__}: {error}"))]

    policy = RetryPolicy(attempts=settings.transcribe_attempts, first_backoff_s=0.5)
    # A failure costs the job its labels, never the job: no StageFailed.
    stage.agent(INPUTS, handle, on_failure=lambda key, error: [], retry=policy, give_up=give_up)

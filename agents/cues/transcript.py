"""A job's transcript, gathered: the words of its transcribed segments in media order, turned
into cues once the orchestrator says every segment is accounted for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from agents.cues.build import build_cues
from agents.cues.model import CueRules, Word
from agents.cues.speakers import SpeakerCount, job_turns, label_words
from streams.broker.topics import Outgoing
from streams.events.model import (
    CueRecord,
    CuesReady,
    SegmentTranscribed,
    SourceCue,
    SpeakersFound,
    TranscriptComplete,
    TranslateRequested,
)
from streams.job_options import translation_name


def missing(complete: TranscriptComplete, have: Callable[[str], bool]) -> list[str]:
    """The segments whose words have not arrived yet (results may lag the orchestrator's word
    that all are accounted for: the two read the results topic independently)."""
    return [segment_id for segment_id in complete.segment_ids if not have(segment_id)]


def speaker_windows(complete: TranscriptComplete, have: Callable[[int], bool]) -> list[int]:
    """The windows whose speakers have not arrived yet (a speakers job only)."""
    if not complete.speakers:
        return []
    return [window for window in complete.speaker_windows if not have(window)]


def cues_ready(
    complete: TranscriptComplete,
    segments: Sequence[SegmentTranscribed],
    rules: CueRules,
    speakers: Sequence[SpeakersFound] = (),
    speaker_threshold: float = 0.3,
) -> CuesReady:
    """Cues from the segments' words (given in ``complete.segment_ids`` order), with the gaps
    of failed segments marked, and each word's speaker when the job asked for them."""
    # Raw words (leading spaces tell a word from a piece of one): build_cues cleans them once.
    words = [
        Word(w.word, w.start, w.end, w.probability) for segment in segments for w in segment.words
    ]
    if complete.speakers and speakers:
        count = SpeakerCount(complete.num_speakers, complete.min_speakers, complete.max_speakers)
        words = label_words(words, job_turns(speakers, speaker_threshold, count))
    gaps = [(gap.start, gap.end) for gap in complete.gaps]
    cues = build_cues(words, rules, gaps)
    return CuesReady(
        job_id=complete.job_id,
        name=complete.name,
        language=complete.language,
        cues=tuple(
            CueRecord(start=c.start, end=c.end, text=c.text, speaker=c.speaker) for c in cues
        ),
    )


def translations(complete: TranscriptComplete, ready: CuesReady) -> list[Outgoing]:
    """One translation task per target language; a target that is the spoken language gets
    the transcript's cues under its own name (nothing to translate)."""
    out: list[Outgoing] = []
    for target in complete.languages:
        if target == ready.language:
            same = replace(ready, name=translation_name(ready.name, target), translated=True)
            out.append(Outgoing("cues.ready", same))
            continue
        task = TranslateRequested(
            job_id=ready.job_id,
            task_id=f"{ready.job_id}:{target}",
            name=ready.name,
            source_language=ready.language,
            language=target,
            cues=tuple(SourceCue(start=c.start, end=c.end, text=c.text) for c in ready.cues),
        )
        out.append(Outgoing("translate.requested", task))
    return out

"""A job's transcript, gathered: the words of its transcribed segments in media order, turned
into cues once the orchestrator says every segment is accounted for; and, where its English
comes from Whisper's translate task, the English words the segments carry, into NAME.en."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from agents.cues.build import build_cues
from agents.cues.model import Cue, CueRules, Word
from agents.cues.speakers import SpeakerCount, job_turns, label_words
from streams.broker.topics import Outgoing
from streams.events.model import (
    CueRecord,
    CuesReady,
    SegmentTranscribed,
    SourceCue,
    SpeakersFound,
    TranscribedWord,
    TranscriptComplete,
    TranslateRequested,
    TranslationFailed,
)
from streams.job_options import AUTO, translation_name, whisper_english


def missing(complete: TranscriptComplete, have: Callable[[str], bool]) -> list[str]:
    """The segments whose words have not arrived yet (results may lag the orchestrator's word
    that all are accounted for: the two read the results topic independently)."""
    return [segment_id for segment_id in complete.segment_ids if not have(segment_id)]


def speaker_windows(complete: TranscriptComplete, have: Callable[[int], bool]) -> list[int]:
    """The windows whose speakers have not arrived yet (a speakers job only)."""
    if not complete.speakers:
        return []
    return [window for window in complete.speaker_windows if not have(window)]


def transcript(
    complete: TranscriptComplete,
    segments: Sequence[SegmentTranscribed],
    rules: CueRules,
    speakers: Sequence[SpeakersFound] = (),
    speaker_threshold: float = 0.3,
) -> tuple[CuesReady, tuple[str, ...]]:
    """Cues from the segments' words (given in ``complete.segment_ids`` order), with the gaps
    of failed segments marked and each word's speaker when the job asked for them; and each
    cue's spoken language: that of the segments most of its words came from ("" the job's
    language, as for a gap marker)."""
    languages = [s.language for s in segments]
    cues = _cues(
        complete, [s.words for s in segments], rules, speakers, speaker_threshold, languages
    )
    ready = CuesReady(
        job_id=complete.job_id,
        name=complete.name,
        language=complete.language,
        cues=_records(cues),
    )
    return ready, tuple(c.language for c in cues)


def _cues(
    complete: TranscriptComplete,
    words: Sequence[Sequence[TranscribedWord]],
    rules: CueRules,
    speakers: Sequence[SpeakersFound] = (),
    speaker_threshold: float = 0.3,
    languages: Sequence[str] = (),
) -> list[Cue]:
    """Cues from each segment's words, the gaps of failed segments marked, each word labelled
    with its speaker when the job asked for them and they came, and with its segment's
    language when given (one per segment)."""
    # Raw words (leading spaces tell a word from a piece of one): build_cues cleans them once.
    tags = languages or [""] * len(words)
    raw = [
        Word(w.word, w.start, w.end, w.probability, language=language)
        for each, language in zip(words, tags, strict=True)
        for w in each
    ]
    if complete.speakers and speakers:
        count = SpeakerCount(complete.num_speakers, complete.min_speakers, complete.max_speakers)
        raw = label_words(raw, job_turns(speakers, speaker_threshold, count))
    gaps = [(gap.start, gap.end) for gap in complete.gaps]
    return build_cues(raw, rules, gaps)


def _records(cues: Sequence[Cue]) -> tuple[CueRecord, ...]:
    return tuple(CueRecord(start=c.start, end=c.end, text=c.text, speaker=c.speaker) for c in cues)


def whisper_cues(
    complete: TranscriptComplete,
    segments: Sequence[SegmentTranscribed],
    rules: CueRules,
    sources: frozenset[str],
    pairs: frozenset[tuple[str, str]] = frozenset(),
) -> CuesReady | str | None:
    """NAME.en from the segments' English (Whisper's translate task; English speech as
    transcribed), or why it cannot be made; None where the job's English is not Whisper's
    (translation.yaml's ``sources`` and other ``pairs``: streams/job_options.py)."""
    spoken = complete.language if complete.language not in ("", AUTO) else None
    if "en" not in complete.languages or not whisper_english(sources, spoken, pairs):
        return None
    if spoken == "en" and all(s.language == "en" for s in segments):
        return None  # nothing to translate: the transcript itself, as for any spoken language
    failures = list(dict.fromkeys(s.translation_error for s in segments if s.translation_error))
    if failures:
        return "; ".join(failures)
    untranslated = [s for s in segments if s.language != "en" and not s.whisper_translate]
    if untranslated:
        return (
            f"{len(untranslated)} {untranslated[0].language} segments came without Whisper's "
            "translation (transcribed by a worker that does not translate?)"
        )
    english = [s.words if s.language == "en" else s.english_words for s in segments]
    labels = list(dict.fromkeys(f"{s.model}@{s.model_version}" for s in segments))
    return CuesReady(
        job_id=complete.job_id,
        name=translation_name(complete.name, "en"),
        language="en",
        cues=_records(_cues(complete, english, rules)),
        translated=True,
        model=f"{', '.join(labels) or 'whisper'} (task: translate)",
        model_version=", ".join(dict.fromkeys(s.model_version for s in segments)),
    )


def translations(
    complete: TranscriptComplete,
    ready: CuesReady,
    english: CuesReady | str | None = None,
    languages: Sequence[str] = (),
) -> list[Outgoing]:
    """One translation task per target language; a target that is the spoken language of every
    cue gets the transcript's cues under its own name (nothing to translate). ``languages``
    (``transcript``'s, one per cue; "" or none at all: the job's language) tells each cue's
    spoken language: in a task, a cue already in the target is kept as transcribed and the
    others are translated from their own language. English made by Whisper
    (``whisper_cues``) goes out as it is, or fails that language with its reason."""
    spoken = [language or ready.language for language in languages] or [ready.language] * len(
        ready.cues
    )
    out: list[Outgoing] = []
    for target in complete.languages:
        if target == "en" and isinstance(english, CuesReady):
            out.append(Outgoing("cues.ready", english))
            continue
        if target == "en" and isinstance(english, str):
            failed = TranslationFailed(
                job_id=complete.job_id,
                language="en",
                reason=english,
                error_class="WhisperTranslationFailed",
            )
            out.append(Outgoing("translations.failed", failed))
            continue
        if all(language == target for language in spoken) and target == ready.language:
            same = replace(ready, name=translation_name(ready.name, target), translated=True)
            out.append(Outgoing("cues.ready", same))
            continue
        task = TranslateRequested(
            job_id=ready.job_id,
            task_id=f"{ready.job_id}:{target}",
            name=ready.name,
            source_language=ready.language,
            language=target,
            cues=tuple(
                SourceCue(
                    start=c.start,
                    end=c.end,
                    text=c.text,
                    language="" if language == ready.language else language,
                )
                for c, language in zip(ready.cues, spoken, strict=True)
            ),
        )
        out.append(Outgoing("translate.requested", task))
    return out

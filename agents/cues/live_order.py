"""Live cues for one stream: ordering, stabilising and per-word latency, as pure functions.

Transcription workers finish a stream's items (phrases, silence and gap marks, the end; one
``seq`` sequence) out of order and repeat them after restarts. `receive` releases them strictly
in ``seq`` order as LiveCues and publishes the head phrase's interims at once, stabilised by
LocalAgreement-n: a word becomes stable once ``agreement`` consecutive hypotheses agree on it
(normalised, as a common prefix after the stable words). Stable words are final: they never
shrink or change, and the phrase's FINAL keeps them, taking from its own transcript only the
words after them (as Whisper-Streaming commits agreed words), so a word of a long phrase is
final long before the phrase ends. A word the model is confident of, well inside the audio a
long enough hypothesis heard, is final on that one hypothesis (`ConfidentCommit`, in the spirit
of SimulStreaming's AlignAtt). A FINAL is laid out by the file pipeline's cue rules, placed
after the cues already released (`place_after`: a new cue gives way, a written one cannot), and
carries per-word latencies. A head item that never comes (dead-lettered) is skipped after
``order_timeout_s`` with a GAP cue.

The state is small and JSON-serialisable (the agent keeps it in a table after every event): only
the head phrase's shown words, the items waiting for the head, and a few numbers. Functions never
modify the state they are given.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from agents.cues.build import build_cues
from agents.cues.cleanup import clean_words
from agents.cues.layout import chars
from agents.cues.model import DEFAULT_RULES, Cue, CueRules, Word, extension_limit
from streams.events.model import LiveCue, LiveCueLine, LiveKind, LiveTranscript, LiveWord
from streams.words import alignment as _alignment
from streams.words import normalise

ORDER_TIMEOUT_S = 10.0
# Items waiting for a missing head, at most; beyond this the head is given up at once, so a
# stream whose head is lost cannot grow the state while the timeout runs.
MAX_HELD = 64
# A re-hypothesis that disagrees with the stable words is cut after them by time; word
# timestamps of two transcriptions of the same audio differ by this much.
_TIME_TOLERANCE_S = 0.1
# ... and a repeat of the last stable words at the start of what is left is dropped.
_MAX_OVERLAP_WORDS = 5
# Hypotheses that must agree before a word is stable (final). Measured on the 5-minute live
# benchmark (tiny.en, interims every second): 2 makes words final sooner (final p95 3.4 s
# instead of 4.2) but commits what short early hypotheses misheard (WER 0.129 against 0.109; the
# phrase's own final alone: 0.108 at a final p95 of 5.3 s).
AGREEMENT = 3


@dataclass(frozen=True, slots=True)
class ConfidentCommit:
    """Words final on a single hypothesis, before any agreement: a leading run of words after
    the stable ones, each with faster-whisper's word probability at least ``min_probability``
    and ending at least ``margin_s`` before the end of the audio the hypothesis heard, in a
    hypothesis that heard at least ``min_heard_s`` of its phrase. Whisper re-hears the words at
    the audio's end and the openings of short hypotheses; words with audio after them that it
    was not unsure of it rarely changes. Measured with bench/live_policy.py on the 5-minute
    benchmark file and a second file of other voices and sentences: the final captions' WER is
    unchanged (0.109 and 0.181 with three agreeing alone) while the final latency p50 drops by
    0.6 s and the p95 by 0.3-0.4 s. A lower probability, a shorter margin or hypothesis commits
    more and sooner but at a cost in WER (no probability floor and a 1-s margin, AlignAtt's
    plain rule: final p95 2.7 s at +4.6 points)."""

    min_probability: float = 0.3
    margin_s: float = 0.5
    min_heard_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How a stream's items are released: the cue rules for finals, how long a missing head is
    waited for, how many items may wait for it, the hypotheses that must agree, and which words
    are final on one hypothesis (None: only agreement makes words final early)."""

    rules: CueRules = DEFAULT_RULES
    order_timeout_s: float = ORDER_TIMEOUT_S
    max_held: int = MAX_HELD
    agreement: int = AGREEMENT
    confident: ConfidentCommit | None = ConfidentCommit()

    def __post_init__(self) -> None:
        if self.agreement < 2:
            raise ValueError(f"agreement must be at least 2 hypotheses, got {self.agreement}")


# --- state -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ShownWord:
    """A word of the head phrase as published in an interim."""

    text: str
    start: float
    end: float
    # First publication of this word anywhere in an interim (carried over re-hypotheses by
    # alignment), and the capture wall time of its end per the interim that first showed it.
    shown_at: float
    shown_capture: float
    # First publication as stable text, and the capture time per the interim that made it so.
    stable_at: float | None = None
    stable_capture: float | None = None


@dataclass(slots=True)
class HeadPhrase:
    """The interim progress of the phrase at the head of the stream (seq == next_seq)."""

    seq: int
    revision: int = -1  # newest interim revision applied
    start: float = 0.0  # media span and offset of the newest interim
    end: float = 0.0
    source_offset: float = 0.0
    stable: list[ShownWord] = field(default_factory=list)
    # The newest hypothesis after the stable words, shown as unstable.
    unstable: list[ShownWord] = field(default_factory=list)
    # The last agreement - 1 hypotheses after the stable words (normalised), oldest first:
    # what the next interim must agree with.
    history: list[list[str]] = field(default_factory=list)
    interims: int = 0  # interims published
    flickered: int = 0  # unstable words published that a later interim changed or dropped


@dataclass(slots=True)
class LiveOrderState:
    """One stream's ordering state; a phrase is forgotten once its final is released."""

    stream_id: str = ""
    next_seq: int = 0  # the item to release next
    watermark: float = 0.0  # media end of the last released FINAL/SILENCE/GAP/END
    # End of the last final cue released: the outputs have written it, so the next phrase's
    # cues start no earlier.
    cue_end: float = 0.0
    head: HeadPhrase | None = None
    held: dict[int, LiveTranscript] = field(default_factory=dict)  # finals and marks ahead
    held_interims: dict[int, LiveTranscript] = field(default_factory=dict)  # newest per seq
    waiting_since: float | None = None  # when items began waiting for the current head

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "next_seq": self.next_seq,
            "watermark": self.watermark,
            "cue_end": self.cue_end,
            "head": None if self.head is None else asdict(self.head),
            "held": [t.to_record() for _, t in sorted(self.held.items())],
            "held_interims": [t.to_record() for _, t in sorted(self.held_interims.items())],
            "waiting_since": self.waiting_since,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LiveOrderState:
        head = data["head"]
        held = [_stored(r) for r in data["held"]]
        interims = [_stored(r) for r in data["held_interims"]]
        return cls(
            stream_id=data["stream_id"],
            next_seq=data["next_seq"],
            watermark=data["watermark"],
            cue_end=data.get("cue_end", 0.0),  # absent from states stored before it existed
            head=None if head is None else _head_from_dict(head),
            held={t.seq: t for t in held},
            held_interims={t.seq: t for t in interims},
            waiting_since=data["waiting_since"],
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveOrderState:
        return cls.from_dict(json.loads(text))


def _stored(record: Mapping[str, Any]) -> LiveTranscript:
    """A held transcript of a stored state: those stored before LiveTranscript had a speaker
    or a language read as unlabelled, in the deployment's language."""
    return LiveTranscript.from_record({"speaker": "", "language": "", **record})


def _head_from_dict(data: Mapping[str, Any]) -> HeadPhrase:
    fields = {k: v for k, v in data.items() if k not in ("stable", "unstable")}
    return HeadPhrase(
        **fields,
        stable=[ShownWord(**w) for w in data["stable"]],
        unstable=[ShownWord(**w) for w in data["unstable"]],
    )


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WordLatency:
    """A final word's latencies: to its first publication (stable or not) and to its final one
    (when it became stable, or the phrase's final)."""

    word: str
    start: float
    end: float
    first_latency_s: float
    final_latency_s: float


@dataclass(frozen=True, slots=True)
class PhraseLatency:
    """What a released final says about its phrase, for benchmarks and metrics."""

    seq: int
    words: tuple[WordLatency, ...]
    interims: int  # interims published for the phrase
    flickered: int  # words published as unstable that later changed or disappeared
    committed: int  # words final before the phrase ended (stable in an interim)


@dataclass(slots=True)
class Step:
    """The outcome of one call: the new state, the cues to publish in order, and a
    `PhraseLatency` for each final released."""

    state: LiveOrderState
    cues: list[LiveCue] = field(default_factory=list)
    phrases: list[PhraseLatency] = field(default_factory=list)


# --- entry points ----------------------------------------------------------------------------


def receive(
    state: LiveOrderState, transcript: LiveTranscript, now: float, policy: Policy = Policy()
) -> tuple[LiveOrderState, list[LiveCue]]:
    """Take one transcript or mark of the stream; returns the new state and the cues to publish."""
    step = receive_step(state, transcript, now, policy)
    return step.state, step.cues


def tick(
    state: LiveOrderState, now: float, policy: Policy = Policy()
) -> tuple[LiveOrderState, list[LiveCue]]:
    """Give up a head item that has kept later items waiting too long (call it periodically)."""
    step = tick_step(state, now, policy)
    return step.state, step.cues


def receive_step(
    state: LiveOrderState, transcript: LiveTranscript, now: float, policy: Policy = Policy()
) -> Step:
    """`receive`, also returning each released final's `PhraseLatency`."""
    if state.stream_id and transcript.stream_id != state.stream_id:
        raise ValueError(
            f"transcript of stream {transcript.stream_id!r} given the state of {state.stream_id!r}"
        )
    if transcript.seq < 0 or transcript.revision < 0:
        raise ValueError(f"negative seq or revision in {transcript.stream_id!r}: {transcript.seq}")
    step = Step(_copy(state))
    step.state.stream_id = transcript.stream_id
    before = step.state.next_seq
    _accept(step, transcript, now, policy)
    _settle(step, now, policy, advanced=step.state.next_seq != before)
    return step


def tick_step(state: LiveOrderState, now: float, policy: Policy = Policy()) -> Step:
    """`tick`, also returning each released final's `PhraseLatency`."""
    step = Step(_copy(state))
    _settle(step, now, policy, advanced=False)
    return step


def _copy(state: LiveOrderState) -> LiveOrderState:
    # Transcripts are immutable: only the head's words need a deep copy.
    return replace(
        state,
        head=copy.deepcopy(state.head),
        held=dict(state.held),
        held_interims=dict(state.held_interims),
    )


# --- ordering --------------------------------------------------------------------------------


def _accept(step: Step, t: LiveTranscript, now: float, policy: Policy) -> None:
    state = step.state
    if t.seq < state.next_seq:
        return  # released already: a duplicate or an interim after its final
    if t.kind is LiveKind.INTERIM:
        if t.seq == state.next_seq:
            _apply_interim(step, t, now, policy)
        elif t.seq not in state.held:  # else its final is already waiting
            newest = state.held_interims.get(t.seq)
            if newest is None or t.revision > newest.revision:
                state.held_interims[t.seq] = t
        return
    if t.seq in state.held:
        return  # a duplicate
    state.held[t.seq] = t
    state.held_interims.pop(t.seq, None)
    _drain(step, now, policy)


def _drain(step: Step, now: float, policy: Policy) -> None:
    """Release the held items that are next in line, then show the new head's newest interim."""
    while True:
        state = step.state
        item = state.held.pop(state.next_seq, None)
        if item is None:
            break
        _release(step, item, now, policy.rules)
    interim = step.state.held_interims.pop(step.state.next_seq, None)
    if interim is not None:
        _apply_interim(step, interim, now, policy)


def _settle(step: Step, now: float, policy: Policy, advanced: bool) -> None:
    """Start, restart or stop the head's wait clock, and give the head up when it is over."""
    while True:
        state = step.state
        if not state.held and not state.held_interims:
            state.waiting_since = None
            return
        if advanced or state.waiting_since is None:
            state.waiting_since = now
        waiting = len(state.held) + len(state.held_interims)
        if waiting <= policy.max_held and now - state.waiting_since <= policy.order_timeout_s:
            return
        _skip_lost(step, now)
        _drain(step, now, policy)
        advanced = True


def _skip_lost(step: Step, now: float) -> None:
    """A GAP cue for each missing item before the first waiting one, which becomes the head."""
    state = step.state
    first = min([*state.held, *state.held_interims])
    following = state.held.get(first) or state.held_interims[first]
    for seq in range(state.next_seq, first):
        head = state.head if state.head is not None and state.head.seq == seq else None
        if head is not None:
            # Its interims tell where the phrase began; it ends where the next item starts.
            start, offset = head.start, head.source_offset
            end = max(head.end, following.start) if seq + 1 == first else head.end
        else:
            start, offset = state.watermark, following.source_offset
            end = max(start, following.start)
        state.watermark = max(state.watermark, end)
        state.next_seq, state.head = seq + 1, None
        step.cues.append(
            _cue(
                state,
                seq=seq,
                revision=0,
                kind=LiveKind.GAP,
                span=(start, end),
                source_offset=offset,
                now=now,
                gap_s=end - start,
                reason=f"phrase {seq} lost",
            )
        )


def _release(step: Step, t: LiveTranscript, now: float, rules: CueRules) -> None:
    state = step.state
    # Segments up to the watermark may be published and cues up to cue_end are written: the
    # phrase's cues go after both.
    floor = max(state.watermark, state.cue_end)
    state.watermark = max(state.watermark, t.end)
    cues: tuple[LiveCueLine, ...] = ()
    words: tuple[LiveWord, ...] = ()
    if t.kind is LiveKind.FINAL:
        head = state.head if state.head is not None and state.head.seq == t.seq else None
        cues, phrase = _final(t, head, now, rules, floor)
        state.cue_end = max([state.cue_end, *(c.end for c in cues)])
        words = tuple(
            LiveWord(
                word=w.word,
                start=w.start,
                end=w.end,
                first_latency_s=w.first_latency_s,
                final_latency_s=w.final_latency_s,
            )
            for w in phrase.words
        )
        step.phrases.append(phrase)
    state.next_seq, state.head = t.seq + 1, None
    step.cues.append(
        _cue(
            state,
            seq=t.seq,
            revision=t.revision,
            kind=t.kind,
            span=(t.start, t.end),
            source_offset=t.source_offset,
            now=now,
            cues=cues,
            words=words,
            gap_s=t.end - t.start if t.kind is LiveKind.GAP else 0.0,
            reason=t.reason if t.kind in (LiveKind.GAP, LiveKind.END) else "",
            capture_end=t.capture_end,
            # One phrase, one speaker: its cues never join another phrase's (place_after).
            speaker=t.speaker if t.kind is LiveKind.FINAL else "",
            source_language=t.language if t.kind is LiveKind.FINAL else "",
        )
    )
    if t.kind is LiveKind.END:
        step.state = LiveOrderState(stream_id=state.stream_id)  # the id may start a new stream


def _cue(
    state: LiveOrderState,
    *,
    seq: int,
    revision: int,
    kind: LiveKind,
    span: tuple[float, float],
    source_offset: float,
    now: float,
    stable: str = "",
    unstable: str = "",
    cues: tuple[LiveCueLine, ...] = (),
    words: tuple[LiveWord, ...] = (),
    gap_s: float = 0.0,
    reason: str = "",
    capture_end: float = 0.0,
    speaker: str = "",
    source_language: str = "",
) -> LiveCue:
    return LiveCue(
        stream_id=state.stream_id,
        seq=seq,
        revision=revision,
        kind=kind,
        start=span[0],
        end=span[1],
        stable=stable,
        unstable=unstable,
        cues=cues,
        words=words,
        watermark=state.watermark,
        source_offset=source_offset,
        gap_s=gap_s,
        reason=reason,
        published_at=now,
        # Later readers (translation) measure their own latency from the capture.
        capture_end=capture_end,
        speaker=speaker,
        source_language=source_language,
    )


# --- interims: LocalAgreement-n --------------------------------------------------------------


def _apply_interim(step: Step, t: LiveTranscript, now: float, policy: Policy) -> None:
    state = step.state
    if state.head is None or state.head.seq != t.seq:
        state.head = HeadPhrase(seq=t.seq)
    head = state.head
    if t.revision <= head.revision:
        return  # stale or repeated
    head.revision, head.start, head.end, head.source_offset = (
        t.revision,
        t.start,
        t.end,
        t.source_offset,
    )
    captured = _capture_clock(t)
    tail = _after_stable(_clean(t), head.stable)
    shown, vanished = _carry_over(head.unstable, tail, now, captured)
    norms = _norms(tail)
    agreement = policy.agreement
    earlier = head.history[-(agreement - 1) :]
    agreed = 0
    if len(earlier) == agreement - 1:
        agreed = min(_common_prefix(h, norms) for h in earlier)
    confident = _confident_run(tail, t, policy.confident)
    if confident > agreed:
        # The earlier hypotheses need not begin with the newly final words: what follows them
        # has to agree afresh, starting from this hypothesis.
        agreed, head.history = confident, [norms[confident:]]
    else:
        head.history = [h[agreed:] for h in [*earlier, norms]][-(agreement - 1) :]
    for word in shown[:agreed]:
        word.stable_at, word.stable_capture = now, captured(word.end)
    if agreed == 0 and _texts(shown) == _texts(head.unstable):
        return  # nothing new to show
    head.stable.extend(shown[:agreed])
    head.unstable = shown[agreed:]
    head.interims += 1
    head.flickered += vanished
    step.cues.append(
        _cue(
            state,
            seq=t.seq,
            revision=t.revision,
            kind=LiveKind.INTERIM,
            span=(t.start, t.end),
            source_offset=t.source_offset,
            now=now,
            stable=_texts(head.stable),
            unstable=_texts(head.unstable),
        )
    )


def _confident_run(tail: Sequence[Word], t: LiveTranscript, rule: ConfidentCommit | None) -> int:
    """How many of the hypothesis' leading words (after the stable ones) are final at once."""
    if rule is None or t.end - t.start < rule.min_heard_s:
        return 0
    n = 0
    while (
        n < len(tail)
        and tail[n].probability >= rule.min_probability
        and tail[n].end <= t.end - rule.margin_s
    ):
        n += 1
    return n


def _after_stable(words: list[Word], stable: Sequence[ShownWord]) -> list[Word]:
    """The part of a new hypothesis after the phrase's stable words."""
    if not stable:
        return words
    stable_norms = _norms(stable)
    if _norms(words[: len(stable)]) == stable_norms:
        return words[len(stable) :]
    # The new hypothesis re-words the stable part ("a crash involving three lorries, drivers"
    # after "crash involving three lorries."): what follows the stable part's last word, where
    # the two agree on it. The times are no guide there: an interim's last word runs on to the
    # end of its audio, over the words it did not hear yet (a whole sentence lost that way).
    last = max(
        (
            j
            for j, i in _alignment(stable_norms, _norms(words)).items()
            if i == len(stable) - 1 and words[j].start <= stable[-1].end + _TIME_TOLERANCE_S
        ),
        default=None,
    )
    if last is not None:
        return words[last + 1 :]
    # Else what starts after it, less a repeat of its last words (whisper_streaming's
    # HypothesisBuffer does the same).
    tail = [w for w in words if w.start > stable[-1].end - _TIME_TOLERANCE_S]
    for n in range(min(_MAX_OVERLAP_WORDS, len(stable), len(tail)), 0, -1):
        if _norms(tail[:n]) == stable_norms[-n:]:
            return tail[n:]
    return tail


def _carry_over(
    old: Sequence[ShownWord], new: Sequence[Word], now: float, captured: Callable[[float], float]
) -> tuple[list[ShownWord], int]:
    """The new words as shown words (a word already shown keeps when it was first shown), and
    how many old words vanished."""
    matched = _alignment(_norms(old), _norms(new))
    shown = []
    for j, word in enumerate(new):
        before = old[matched[j]] if j in matched else None
        shown.append(
            ShownWord(
                text=word.text,
                start=word.start,
                end=word.end,
                shown_at=before.shown_at if before else now,
                shown_capture=before.shown_capture if before else captured(word.end),
            )
        )
    return shown, len(old) - len(matched)


# --- finals ----------------------------------------------------------------------------------


def _final(
    t: LiveTranscript, head: HeadPhrase | None, now: float, rules: CueRules, floor: float
) -> tuple[tuple[LiveCueLine, ...], PhraseLatency]:
    """The phrase's final words: its stable words as they were published (in the final's
    casing, punctuation and timing where the final has the same word), then the final
    transcript's words after them, laid out as cues placed after ``floor``."""
    stable = head.stable if head else []
    unstable = head.unstable if head else []
    transcript = _clean(t)
    tail = _after_stable(transcript, stable)
    before_tail = transcript[: len(transcript) - len(tail)]  # the tail is a suffix
    same = {i: j for j, i in _alignment(_norms(stable), _norms(before_tail)).items()}
    words = [
        before_tail[same[i]] if i in same else Word(w.text, w.start, w.end)
        for i, w in enumerate(stable)
    ]
    words += tail
    cues = tuple(
        LiveCueLine(start=c.start, end=c.end, text=c.text)
        for c in place_after(build_cues(_as_spoken(words), rules), floor, rules)
    )
    latencies = []
    for w, word in zip(stable, words[: len(stable)], strict=True):
        assert w.stable_at is not None and w.stable_capture is not None
        final = w.stable_at - w.stable_capture
        first = min(final, w.shown_at - w.shown_capture)
        latencies.append(WordLatency(word.text, word.start, word.end, first, final))
    shown_match = _alignment(_norms(unstable), _norms(tail))
    captured = _capture_clock(t)
    for j, word in enumerate(tail):
        final = now - captured(word.end)
        first = final
        if j in shown_match:
            w = unstable[shown_match[j]]
            first = min(final, w.shown_at - w.shown_capture)
        latencies.append(WordLatency(word.text, word.start, word.end, first, final))
    kept = set(shown_match.values())
    return cues, PhraseLatency(
        seq=t.seq,
        words=tuple(latencies),
        interims=head.interims if head else 0,
        flickered=(head.flickered if head else 0)
        + sum(1 for i in range(len(unstable)) if i not in kept),
        committed=len(stable),
    )


def place_after(cues: Sequence[Cue], floor: float, rules: CueRules) -> list[Cue]:
    """A phrase's cues (from `build_cues`, on its own) placed after ``floor``, the end of what
    the stream has already written, and timed by the rules as far as that allows.

    The file lane clamps a cue's end to the next cue's start; live, the previous cue is
    written, so the new cue gives way instead: its start moves to ``floor`` (or to the end of
    the cue before it in the phrase) and its end is extended again for min_duration and
    reading time, up to the next cue's start less min_gap, as in the file lane. A cue that
    gave way keeps min_duration even past the next cue's start (which then gives way in turn):
    clamped, a cue pushed past its own words would be a flash or nothing; min_duration rather
    than its reading time so that a phrase pushed late catches up within a few cues. The last
    cue of the phrase extends as if nothing followed, since nothing is known yet; the next
    phrase gives way to it. Times are whole milliseconds, as SRT and WebVTT write them, so
    that rounding in the files cannot create an overlap.
    """
    placed: list[Cue] = []
    for i, cue in enumerate(cues):
        start = max(_ms(cue.start), _ms(floor))
        next_start = _ms(cues[i + 1].start) if i + 1 < len(cues) else math.inf
        end = min(max(_ms(cue.end), start), start + rules.max_duration)
        wanted = start + max(rules.min_duration, chars(cue.lines) / rules.max_chars_per_second)
        limit = extension_limit(start, next_start, rules)
        if start > _ms(cue.start):
            limit = max(limit, start + rules.min_duration)
        if end < wanted:
            end = max(end, min(wanted, limit))
        placed.append(Cue(start, _ms(end), cue.lines))
        floor = placed[-1].end
    return placed


def _ms(seconds: float) -> float:
    return round(seconds, 3)


# --- words -----------------------------------------------------------------------------------


def _as_spoken(words: Sequence[Word]) -> list[Word]:
    """Cleaned words as `build_cues` takes raw ones: in spoken order (a stable word keeps the
    timing of the hypothesis that made it stable, which may disagree with the final's, and
    `clean_words` sorts by start) and with faster-whisper's leading space, which marks each as
    a word of its own (so that joining pieces such as "o" + "'clock" happens once, as in the
    file lane, when the transcript is first cleaned)."""
    out: list[Word] = []
    for word in words:
        start = max(word.start, out[-1].start) if out else word.start
        out.append(Word(f" {word.text}", start, max(start, word.end), word.probability))
    return out


def _clean(t: LiveTranscript) -> list[Word]:
    return clean_words(Word(w.word, w.start, w.end, w.probability) for w in t.words)


def _capture_clock(t: LiveTranscript) -> Callable[[float], float]:
    """Wall time at which the audio at media time x was captured, per this transcript. A word
    the model placed past the audio it heard (in the silence that fills its window) ended by
    the audio's end."""
    return lambda x: t.capture_end - (t.end - min(x, t.end))


def _norms(words: Iterable[Word | ShownWord]) -> list[str]:
    return [normalise(w.text) for w in words]


def _texts(words: Iterable[ShownWord]) -> str:
    return " ".join(w.text for w in words)


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n

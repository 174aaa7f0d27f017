"""Speaker labels for a job's words: the diarize stage's windows joined into one set of
speakers ("Speaker 1" is the same voice all job long), then each word given the speaker of the
turn it overlaps most. Pure (numpy only): no model, no Kafka.

Each window's speakers come with a centroid embedding; voices of all windows are clustered
agglomeratively (average linkage, cosine distance) under a threshold, or into the number of
speakers the job names, within its minimum and maximum."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from agents.cues.model import Word
from streams.events.model import SpeakersFound

# A word outside every turn (a breath before a turn, a timing slip) takes the nearest turn
# within this many seconds; further away it stays unlabelled.
NEAREST_S = 1.0
# Cosine distances lie in [0, 2]: a pair that must stay apart is put beyond any of them.
FAR = 4.0


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str  # "Speaker 1", ...


@dataclass(frozen=True)
class SpeakerCount:
    """What the job says of its speakers; 0: not said."""

    num: int = 0
    min: int = 0
    max: int = 0


def _normalised(vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def cluster(
    vectors: np.ndarray[Any, Any],
    threshold: float,
    count: SpeakerCount = SpeakerCount(),
    groups: Sequence[int] = (),
) -> list[int]:
    """Cluster indices (0..k-1) for vectors: average-linkage merges while the closest pair
    of clusters is nearer than ``threshold`` (cosine distance), or until ``count.num``
    clusters remain; the result is kept within ``count.min``..``count.max`` where the number
    of vectors allows. Vectors of one group (a window, whose diarization already told its
    voices apart) join only when the counts force it."""
    n = len(vectors)
    if n == 0:
        return []
    target_max = count.num or count.max or n
    target_min = min(count.num or count.min or 1, n)
    x = _normalised(np.asarray(vectors, dtype=np.float64))
    distance = 1.0 - x @ x.T
    if groups:
        same = np.equal.outer(np.asarray(groups), np.asarray(groups))
        distance[same] = FAR  # not inf: a forced merge still prefers the nearest
    np.fill_diagonal(distance, np.inf)
    sizes = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    alive = list(range(n))
    while len(alive) > target_min:
        sub = distance[np.ix_(alive, alive)]
        a, b = np.unravel_index(np.argmin(sub), sub.shape)
        if sub[a, b] >= threshold and len(alive) <= target_max:
            break
        i, j = alive[a], alive[b]
        # Average linkage: the merged cluster's distance is the size-weighted mean.
        merged = (distance[i] * sizes[i] + distance[j] * sizes[j]) / (sizes[i] + sizes[j])
        distance[i, :] = merged
        distance[:, i] = merged
        distance[i, i] = np.inf
        sizes[i] += sizes[j]
        members[i] += members[j]
        alive.remove(j)
    labels = [0] * n
    for label, root in enumerate(sorted(alive, key=lambda r: min(members[r]))):
        for member in members[root]:
            labels[member] = label
    return labels


def job_turns(
    windows: Sequence[SpeakersFound], threshold: float, count: SpeakerCount = SpeakerCount()
) -> list[Turn]:
    """Every window's turns under job-wide labels, numbered in order of first speech."""
    keys: list[tuple[int, int]] = []  # (window, local speaker) with an embedding
    vectors: list[tuple[float, ...]] = []
    loose: list[tuple[int, int]] = []  # without one: a speaker of its own
    for found in windows:
        for voice in found.voices:
            if voice.embedding:
                keys.append((found.window, voice.speaker))
                vectors.append(voice.embedding)
            else:
                loose.append((found.window, voice.speaker))
    dims = {len(v) for v in vectors}
    if len(dims) > 1:  # embeddings of different models: cannot be compared
        loose += keys
        keys, vectors = [], []
    windows_of = [window for window, _ in keys]
    labels = cluster(np.array(vectors), threshold, count, windows_of) if vectors else []
    group = {key: label for key, label in zip(keys, labels, strict=True)}
    for n, key in enumerate(loose):
        group[key] = len(set(labels)) + n
    raw = [
        (turn.start, turn.end, group.get((found.window, turn.speaker), -1))
        for found in windows
        for turn in found.turns
        if turn.end > turn.start
    ]
    raw.sort()
    order: dict[int, int] = {}
    for _, _, label in raw:
        order.setdefault(label, len(order) + 1)
    return [Turn(start, end, f"Speaker {order[label]}") for start, end, label in raw]


def speaker_at(
    turns: Sequence[Turn], start: float, end: float, starts: Sequence[float] = ()
) -> str:
    """The speaker of the turn overlapping [start, end] most, else the nearest turn within
    NEAREST_S; "" when none. ``turns`` sorted by start and, as exclusive diarization gives
    them, not overlapping (``starts``: their starts, to look only near the word)."""
    starts = starts or [turn.start for turn in turns]
    best, best_overlap = "", 0.0
    nearest, nearest_gap = "", NEAREST_S
    at = bisect_right(starts, end + NEAREST_S)
    while at > 0 and turns[at - 1].end >= start - NEAREST_S:
        at -= 1
        turn = turns[at]
        overlap = min(end, turn.end) - max(start, turn.start)
        if overlap > best_overlap:
            best, best_overlap = turn.speaker, overlap
        gap = max(turn.start - end, start - turn.end, 0.0)
        if gap < nearest_gap:
            nearest, nearest_gap = turn.speaker, gap
    return best or nearest


def label_words(words: Sequence[Word], turns: Sequence[Turn]) -> list[Word]:
    """Each word with its speaker; a word no turn claims takes the speaker before it, so a
    cue is not split by a word the diarizer missed."""
    ordered = sorted(turns, key=lambda t: t.start)
    starts = [turn.start for turn in ordered]
    out: list[Word] = []
    previous = ""
    for word in words:
        speaker = speaker_at(ordered, word.start, word.end, starts) or previous
        out.append(replace(word, speaker=speaker))
        previous = speaker
    return out

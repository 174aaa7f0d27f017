"""Live speaker labels (kaption issue 22 item 4) on the live evaluation set's two conversations.

Each conversation of bench/live_eval_set.py (tuning: en-us+f2 and en-gb-x-rp; held out: en-us-nyc
and en+f4, voices the tuning part never uses) is spoken again turn by turn with espeak-ng, so the
true turns are known, and streamed through the live stage's own code without a broker: speech
detection (agents/live/phrases.py: the final phrases exactly as the live stage cuts them, in
0.5-s chunks), one CAM++ embedding per final phrase (agents/live/voices.Embedder, what the stage
runs before the final goes out) and the online clustering (agents/live/voices.assign).

Figures:
- words right: the share of the reference words whose phrase has the right speaker after the
  best one-to-one mapping of labels to true speakers (a turn's words spread evenly over its
  speech; a word belongs to the phrase holding its middle; words no phrase holds count wrong),
  beside what one label per phrase allows at best (each phrase its majority speaker);
- speakers: labels the stream ended with (2 is right);
- embedding time per final phrase, p50 and p95: what speaker labels add to a final's latency.

The similarity threshold is chosen on the tuning conversation only (the best share, ties to the
middle of the best range); the held-out figure is at that threshold. Needs espeak-ng and the
'speakers' extra. Run: ``python bench/live_speakers.py``.
"""

from __future__ import annotations

import itertools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import OUT
from live_eval_set import HELDOUT, TUNING, Item, Turn, speak

from agents.live.phrases import Detector, PhraseRules
from agents.live.voices import Embedder, VoiceRules, Voices, assign, label
from streams.events.audio import SAMPLE_RATE
from streams.events.model import AudioChunk, LiveSegment

CHUNK_S = 0.5
THRESHOLDS = [round(0.05 * n, 2) for n in range(2, 17)]  # 0.10 .. 0.80
# Short replies (under a second) between questions, the tuning conversation's voices: how a
# phrase too short for a reliable voice is best labelled (the nearest speaker's centroid, which
# agents/live/voices.py does, or the previous phrase's speaker).
REPLIES = Item(
    "replies-f2-rp",
    "conversation",
    tuple(
        Turn(*(("en-us+f2", 165), ("en-gb-x-rp", 175))[i % 2], text, 0.7 if i else 0.0)
        for i, text in enumerate(
            (
                "Did you remember to lock the back door before we left the house?",
                "Yes.",
                "And did you close all the windows upstairs in the bedrooms?",
                "I closed the ones in the kitchen, but not the ones upstairs.",
                "Really?",
                "Sorry, I was in a hurry because the taxi was already waiting outside.",
                "Then we should go back before the rain starts this afternoon.",
                "Okay.",
                "Fine.",
                "Should we call your sister and tell her that we will be late?",
                "Sure.",
                "Right.",
                "I will send her a message from the car when we are on the road.",
                "Thanks.",
            )
        )
    ),
)


@dataclass
class Conversation:
    name: str
    pcm: np.ndarray
    words: list[tuple[float, str]]  # (middle time, true speaker) of each reference word


@dataclass
class Phrase:
    start: float
    end: float
    seconds: float
    vector: np.ndarray | None
    embed_s: float


def conversation(item: Item, folder: Path) -> Conversation:
    pieces, words, at = [], [], 0
    for turn in item.turns:
        pieces.append(np.zeros(round(turn.pause_s * SAMPLE_RATE), dtype=np.int16))
        at += len(pieces[-1])
        spoken = speak(turn, folder)
        pieces.append(spoken)
        tokens = turn.text.split()
        start, length = at / SAMPLE_RATE, len(spoken) / SAMPLE_RATE
        words += [
            (start + (i + 0.5) * length / len(tokens), turn.voice) for i in range(len(tokens))
        ]
        at += len(spoken)
    pieces.append(np.zeros(SAMPLE_RATE, dtype=np.int16))  # the stream ends in silence
    return Conversation(item.name, np.concatenate(pieces), words)


def chunks(pcm: np.ndarray) -> list[AudioChunk]:
    step = round(CHUNK_S * SAMPLE_RATE)
    out = []
    for seq, start in enumerate(range(0, len(pcm), step)):
        piece = pcm[start : start + step]
        media = start / SAMPLE_RATE
        out.append(
            AudioChunk(
                stream_id="bench",
                seq=seq,
                media_time=media,
                duration=len(piece) / SAMPLE_RATE,
                capture_time=media + len(piece) / SAMPLE_RATE,
                sample_rate=SAMPLE_RATE,
                pcm=piece.astype("<i2").tobytes(),
                source_offset=0.0,
                gap_before=0.0,
                gap_reason="",
                last=start + step >= len(pcm),
                end_reason="source ended" if start + step >= len(pcm) else "",
            )
        )
    return out


def phrases(talk: Conversation, embedder: Embedder) -> list[Phrase]:
    detector = Detector("bench", PhraseRules())
    found = []
    for chunk in chunks(talk.pcm):
        for item in detector.feed(chunk, 0.0):
            if isinstance(item, LiveSegment) and item.final:
                began = time.perf_counter()
                vector = embedder.embed(item.pcm)
                took = time.perf_counter() - began
                seconds = len(item.pcm) / 2 / SAMPLE_RATE
                found.append(Phrase(item.start, item.end, seconds, vector, took))
    return found


def labels(found: list[Phrase], threshold: float, previous: bool = False) -> tuple[list[str], int]:
    """Each phrase's label; ``previous``: a short phrase takes the previous phrase's speaker
    instead of the nearest (the alternative to agents/live/voices.py's rule)."""
    voices, out = Voices(asked=True), []
    rules = VoiceRules(threshold=threshold)
    for phrase in found:
        if previous and voices.centroids and phrase.seconds < rules.min_voice_s:
            index = voices.last
        else:
            voices, index = assign(voices, phrase.vector, phrase.seconds, rules)
        out.append(label(index))
    return out, len(voices.centroids)


def words_right(talk: Conversation, found: list[Phrase], given: list[str]) -> float:
    """Share of words whose phrase's label maps to their speaker (best one-to-one mapping)."""
    return scored(talk, found, given)[0]


def scored(
    talk: Conversation, found: list[Phrase], given: list[str]
) -> tuple[float, dict[str, str | None]]:
    """``words_right`` and the mapping of labels to speakers that gives it."""
    pairs = []
    for middle, truth in talk.words:
        held = [n for n, p in enumerate(found) if p.start <= middle < p.end]
        pairs.append((given[held[0]] if held else None, truth))
    truths = sorted({t for _, t in pairs})
    names = sorted({g for g, _ in pairs if g is not None})
    best: tuple[int, dict[str, str | None]] = (-1, {})
    # Every one-to-one mapping of labels to speakers (a label may map to none).
    for chosen in itertools.permutations([*truths, *[None] * len(names)], len(names)):
        mapping = dict(zip(names, chosen, strict=True))
        right = sum(1 for g, t in pairs if g is not None and mapping.get(g) == t)
        best = max(best, (right, mapping), key=lambda b: b[0])
    return best[0] / len(pairs), best[1]


def short_right(talk: Conversation, found: list[Phrase], given: list[str]) -> int:
    """Phrases under a second whose label maps to their speaker."""
    mapping = scored(talk, found, given)[1]
    right = 0
    for phrase, name in zip(found, given, strict=True):
        held = [t for middle, t in talk.words if phrase.start <= middle < phrase.end]
        if phrase.seconds < 1.0 and held and mapping.get(name) == max(held, key=held.count):
            right += 1
    return right


def ceiling(talk: Conversation, found: list[Phrase]) -> float:
    """The share if every phrase had its majority speaker: what one label per phrase allows
    (a turn change with a pause shorter than the phrase cut's does not end a phrase)."""
    right = 0
    for phrase in found:
        held = [t for middle, t in talk.words if phrase.start <= middle < phrase.end]
        right += max((held.count(t) for t in set(held)), default=0)
    return right / len(talk.words)


def item_named(items: tuple[Item, ...]) -> Item:
    [item] = [i for i in items if i.kind == "conversation"]
    return item


def main() -> None:
    embedder = Embedder()
    embedder.load()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        talks = {
            part: conversation(item_named(items), Path(tmp))
            for part, items in (("tuning", TUNING), ("heldout", HELDOUT))
        }
        replies = conversation(REPLIES, Path(tmp))
    found = {part: phrases(talk, embedder) for part, talk in talks.items()}
    sweep = {}
    for threshold in THRESHOLDS:
        given, count = labels(found["tuning"], threshold)
        sweep[threshold] = (words_right(talks["tuning"], found["tuning"], given), count)
    top = max(share for share, _ in sweep.values())
    best = [t for t, (share, count) in sweep.items() if share == top]
    chosen = best[len(best) // 2]
    print("threshold  tuning words right  speakers")
    for threshold, (share, count) in sweep.items():
        mark = "  <- chosen" if threshold == chosen else ""
        print(f"{threshold:9.2f}  {share:18.3f}  {count:8d}{mark}")
    times = [p.embed_s for part in found.values() for p in part]
    for part, talk in talks.items():
        given, count = labels(found[part], chosen)
        share = words_right(talk, found[part], given)
        brief = sum(1 for p in found[part] if p.seconds < VoiceRules().min_voice_s)
        most = ceiling(talk, found[part])
        print(
            f"{part:8s} {talk.name}: {len(talk.words)} words, {len(found[part])} phrases "
            f"({brief} under 1 s), words right {share:.3f} (one label per phrase allows "
            f"{most:.3f}), speakers {count} (true 2)"
        )
        results[part] = {
            "item": talk.name,
            "words": len(talk.words),
            "phrases": len(found[part]),
            "short_phrases": brief,
            "words_right": round(share, 4),
            "ceiling": round(most, 4),
            "speakers": count,
            "labels": given,
        }
    short = phrases(replies, embedder)
    times += [p.embed_s for p in short]
    results["replies"] = {"phrases": len(short)}
    for previous in (False, True):
        given, count = labels(short, chosen, previous)
        share = words_right(replies, short, given)
        rule = "previous speaker" if previous else "nearest speaker"
        brief = sum(1 for p in short if p.seconds < 1.0)
        right = short_right(replies, short, given)
        print(
            f"replies  {REPLIES.name}: {len(short)} phrases, {brief} under 1 s labelled by the "
            f"{rule}: {right} of them right, words right {share:.3f} "
            f"(allows {ceiling(replies, short):.3f}), speakers {count}"
        )
        results["replies"][rule] = {"words_right": round(share, 4), "short_right": right}  # type: ignore[index]
    p50 = statistics.median(times)
    p95 = float(np.percentile(times, 95))
    print(f"embedding per final phrase: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    results.update(
        threshold=chosen,
        sweep={str(t): v for t, v in sweep.items()},
        embed_p50_s=round(p50, 4),
        embed_p95_s=round(p95, 4),
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "live_speakers.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

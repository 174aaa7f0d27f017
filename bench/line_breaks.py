"""Where two-line cues break, before and after the break chooser (issue 20, item 5).

Transcribes a TUNING set (tests/media/speech.wav, samples/demo.mp4 and six paragraphs spoken by
espeak-ng) and a HELD-OUT set (six other paragraphs in other voices and rates, and the
sentences of bench/other_voices.py) with the bundled tiny.en through the pipeline's own call
(agents.transcribe.whisper.transcribe_batch, one clip per paragraph), builds cues with
agents.cues.build, and prints per set: two-line cues, breaks right after a function word
(agents.cues.layout.FUNCTION_WORDS, punctuation excepted), lone-word lines where a split with two
words a line fitted, cues ending on a function word, the longest line and rule violations.
"Before" is the layout of commit 92002bc (narrowest greedy wrap; a cue split simply before the
word that did not fit), copied below. The weights in agents/cues/layout.py were chosen on the
tuning set only. Transcripts are cached in /tmp/kaption-line-breaks (delete it to redo them).
Needs Debian's espeak-ng for the paragraphs.

Run: ``.venv/bin/python bench/line_breaks.py [--show]`` (--show prints every two-line cue).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from agents.cues import build, layout  # noqa: E402
from agents.cues.check import check_cues  # noqa: E402
from agents.cues.cleanup import clean_words  # noqa: E402
from agents.cues.layout import binds_forward, wrap  # noqa: E402
from agents.cues.model import DEFAULT_RULES, Cue, CueRules, Word  # noqa: E402
from agents.decode.media import decode_audio  # noqa: E402
from streams.events.audio import SAMPLE_RATE  # noqa: E402

CACHE = Path("/tmp/kaption-line-breaks")
GAP_S = 0.8  # silence between paragraphs

TUNING_TEXT = (
    (
        "en-us",
        165,
        "To make a simple loaf of bread, you need flour, water, salt and a little yeast. Mix"
        " them in a large bowl until the dough comes together, then knead it on the table for"
        " about ten minutes. Leave it in a warm place for an hour, and it will double in size.",
    ),
    (
        "en-gb",
        155,
        "The old railway line along the coast was closed in 1965, but a group of volunteers has"
        " spent the last twenty years bringing it back to life. Trains now run every weekend"
        " from April to October, and the views of the cliffs are some of the best in the"
        " country.",
    ),
    (
        "en-us+f3",
        170,
        "When you install the program for the first time, it asks for your name and the folder"
        " where your files should be kept. You can change both later in the settings. If"
        " something goes wrong, the log file will tell you what happened and what you could"
        " try next.",
    ),
    (
        "en-gb",
        150,
        "In the summer of 1851, the Great Exhibition opened in a huge building of glass and"
        " iron in Hyde Park. More than six million people visited it over five months. They"
        " came to see machines, fabrics and inventions from all over the world, and many of"
        " them had never been to London before.",
    ),
    (
        "en-us",
        175,
        "Our team lost the first game of the season by three points, but the coach was not"
        " worried at all. She told the players that they had done most things right and that"
        " the results would come. Two weeks later they beat the champions at home in front of"
        " a crowd of eight thousand people.",
    ),
    (
        "en-us+f3",
        160,
        "Before you leave the house, check that the windows are closed and that the back door"
        " is locked. Turn off the lights in the rooms you are not using, and make sure the cat"
        " has enough water for the day. Then take your keys, your phone and your umbrella, and"
        " go.",
    ),
    (
        "en-gb",
        170,
        "The new bridge across the river will carry four lanes of traffic and a wide path for"
        " people on foot and on bicycles when it opens to the public in the middle of next year"
        " after more than three years of work by a team of several hundred engineers.",
    ),
    (
        "en-us",
        155,
        "Doctor Sarah Chen from the University of Toronto said that her team had been studying"
        " the effect of a short walk after dinner on the sleep of older people for almost a"
        " decade and that the results were clearer than anyone in the group had expected.",
    ),
    (
        "en-us+f3",
        165,
        "I think that we should probably wait until the rain stops before we try to carry the"
        " boxes out to the car because the paper bags that we have are not going to last for"
        " very long if they get wet on the way down the stairs.",
    ),
    (
        "en-gb",
        160,
        "According to the report, the number of people who work from home at least one day a"
        " week has grown from about 5 percent in 2019 to nearly 30 percent today, and most of"
        " them say that they would not want to go back to the office full time.",
    ),
)

HELD_OUT_TEXT = (
    (
        "en-gb-x-rp",
        160,
        "Astronomers have spotted a comet that will pass close to the Earth early next year. It"
        " is expected to be bright enough to see without a telescope for a few nights in"
        " February. The best time to look will be just after sunset, low in the western sky,"
        " away from the lights of the town.",
    ),
    (
        "en-us+m3",
        170,
        "The company said its profits rose by 12 percent in the last quarter, mostly because of"
        " strong sales in Asia. Its shares gained almost 4 percent on Tuesday. The chief"
        " executive, Maria Lopez, said that she was confident about the rest of the year, but"
        " she warned that costs were still going up.",
    ),
    (
        "en-us",
        150,
        "My grandfather kept bees for most of his life. Every spring he would open the hives"
        " and look for the queen, and he never wore gloves. He said that the bees knew him and"
        " that they could tell when somebody was afraid of them. I was always afraid, so I"
        " watched from behind the fence.",
    ),
    (
        "en-gb-scotland",
        155,
        "If you have a cough that lasts for more than three weeks, you should see a doctor."
        " Most coughs are caused by a cold and go away on their own, but some need treatment."
        " Drink plenty of water, get as much rest as you can, and avoid smoke and dust while"
        " you are getting better.",
    ),
    (
        "en-us+f2",
        175,
        "The library in the middle of the town will close for repairs at the end of this month."
        " During the work, books can be borrowed from a van that will stop outside the school"
        " on Mondays and Thursdays. The building should open again in the autumn with a new"
        " reading room for children.",
    ),
    (
        "en-gb",
        145,
        "We reached the top of the mountain just before noon. The wind was so strong that we"
        " could hardly stand, and the clouds hid everything below us. After a few minutes we"
        " gave up waiting for the view and started down again, which was harder than the climb"
        " had been.",
    ),
)


def old_layout(
    texts: Sequence[str], rules: CueRules, language: str = "en"
) -> tuple[str, ...] | None:
    """The layout before the break chooser: the narrowest greedy wrap with as few lines."""
    lines = wrap(texts, rules.max_line_chars)
    if lines is None or len(lines) > rules.max_lines:
        return None
    if len(lines) == 1:
        return tuple(lines)
    for width in range(max(len(t) for t in texts), rules.max_line_chars):
        narrow = wrap(texts, width)
        if narrow is not None and len(narrow) <= len(lines):
            return tuple(narrow)
    return tuple(lines)


@contextmanager
def before() -> Iterator[None]:
    """build_cues as it was: the old layout, no cue-end preference, no split for breaks."""
    saved = build.layout, build._ends_phrase, build._split_for_breaks
    build.layout, build._ends_phrase = old_layout, lambda text: False
    build._split_for_breaks = lambda words, rules: [words]
    try:
        yield
    finally:
        build.layout, build._ends_phrase, build._split_for_breaks = saved


# --- speech and transcripts -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    clips: Callable[[], list[np.ndarray]]  # one PCM clip per paragraph (each under 30 s)
    key: str = ""  # what the clips are made from: a changed text is transcribed again


def spoken(paragraphs: Sequence[tuple[str, int, str]]) -> Callable[[], list[np.ndarray]]:
    def make() -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() as folder:
            wav = Path(folder) / "p.wav"
            clips = []
            for voice, rate, text in paragraphs:
                command = ["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), text]
                subprocess.run(command, check=True)
                clips.append(decode_audio(str(wav)).pcm)
            return clips

    return make


def media(path: Path) -> Callable[[], list[np.ndarray]]:
    return lambda: [decode_audio(str(path)).pcm]


def other_voices() -> list[tuple[str, int, str]]:
    from other_voices import SENTENCES, VOICES, WPM

    # Three sentences a clip keep each clip well under Whisper's 30 s window.
    return [
        (VOICES[i % len(VOICES)], WPM, " ".join(SENTENCES[i : i + 3]))
        for i in range(0, len(SENTENCES), 3)
    ]


def sets() -> dict[str, list[Source]]:
    return {
        "tuning": [
            Source("speech", media(REPO / "tests" / "media" / "speech.wav")),
            Source("demo", media(REPO / "samples" / "demo.mp4")),
            Source("tuning-paragraphs", spoken(TUNING_TEXT), repr(TUNING_TEXT)),
        ],
        "held-out": [
            Source("held-out-paragraphs", spoken(HELD_OUT_TEXT), repr(HELD_OUT_TEXT)),
            Source("other-voices", spoken(other_voices()), repr(other_voices())),
        ],
    }


def transcribe(source: Source) -> tuple[list[Word], float]:
    """Words of the source's clips laid end to end (GAP_S apart), cached as JSON."""
    digest = hashlib.sha256(source.key.encode()).hexdigest()[:12]
    cached = CACHE / f"{source.name}-{digest}.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        return [Word(*w) for w in data["words"]], data["seconds"]
    from agents.transcribe.whisper import Clip, load_model, transcribe_batch

    model = load_model("", "cpu", "int8", cpu_threads=2)
    words: list[Word] = []
    start = 0.0
    for pcm in source.clips():
        if len(pcm) > 30 * SAMPLE_RATE:
            raise ValueError(f"{source.name}: a clip of {len(pcm) / SAMPLE_RATE:.1f} s")
        (result,) = transcribe_batch(model, [Clip(pcm, start)], SAMPLE_RATE, "en", beam_size=1)
        words += [Word(w.word, w.start, w.end, w.probability) for w in result.words]
        start += len(pcm) / SAMPLE_RATE + GAP_S
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = [[w.text, w.start, w.end, w.probability] for w in words]
    cached.write_text(json.dumps({"words": rows, "seconds": start}))
    return words, start


# --- measures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    cues: int = 0
    two_line: int = 0
    after_function_word: int = 0
    orphans: int = 0  # a one-word line where a split with two words a line fitted
    cue_ends_on_function_word: int = 0
    max_line: int = 0
    top_heavy: int = 0
    violations: int = 0

    def add(self, cues: Sequence[Cue], rules: CueRules) -> None:
        self.cues += len(cues)
        self.violations += len(check_cues(cues, rules))
        self.max_line = max([self.max_line, *(len(line) for c in cues for line in c.lines)])
        self.cue_ends_on_function_word += sum(binds_forward(c.lines[-1].split()[-1]) for c in cues)
        for cue in (c for c in cues if len(c.lines) == 2):
            top, bottom = cue.lines
            self.two_line += 1
            self.after_function_word += binds_forward(top.split()[-1])
            self.orphans += is_avoidable_orphan(cue.lines, rules)
            self.top_heavy += len(top) > len(bottom)

    def row(self) -> str:
        share = self.after_function_word / self.two_line if self.two_line else 0.0
        return (
            f"{self.cues:4d} cues, {self.two_line:3d} two-line, after a function word"
            f" {self.after_function_word:3d} ({share:5.1%}), orphans {self.orphans},"
            f" top-heavy {self.top_heavy}, cues ending on a function word"
            f" {self.cue_ends_on_function_word}, longest line {self.max_line},"
            f" violations {self.violations}"
        )


def is_avoidable_orphan(lines: tuple[str, ...], rules: CueRules) -> bool:
    words = " ".join(lines).split()
    if not any(len(line.split()) == 1 for line in lines) or len(words) < 4:
        return False
    return any(
        len(" ".join(words[:k])) <= rules.max_line_chars
        and len(" ".join(words[k:])) <= rules.max_line_chars
        for k in range(2, len(words) - 1)
    )


# The weights tried by --grid, on the tuning set only.
GRID = {
    "_FUNCTION": (4.0, 10.0),
    "_IMBALANCE": (4.0, 8.0, 16.0),
    "_TOP_HEAVY": (0.0, 4.0),
    "_LOOK_BACK": (0, 2, 4, 6),
}


@contextmanager
def weights(values: dict[str, float]) -> Iterator[None]:
    modules = {name: build if name == "_LOOK_BACK" else layout for name in values}
    saved = {name: getattr(modules[name], name) for name in values}
    for name, value in values.items():
        setattr(modules[name], name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(modules[name], name, value)


def grid(rules: CueRules) -> None:
    """The tuning set's figures for every combination of GRID's weights."""
    words = [transcribe(source)[0] for source in sets()["tuning"]]
    for combination in itertools.product(*GRID.values()):
        values = dict(zip(GRID, combination, strict=True))
        figures = Figures()
        with weights(values):
            for source_words in words:
                figures.add(build.build_cues(clean_words(source_words), rules), rules)
        print(" ".join(f"{k.strip('_').lower()}={v:g}" for k, v in values.items()), figures.row())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", action="store_true", help="print every two-line cue")
    parser.add_argument("--grid", action="store_true", help="try GRID's weights on tuning")
    args = parser.parse_args()
    rules = DEFAULT_RULES
    if args.grid:
        grid(rules)
        return
    for set_name, sources in sets().items():
        seconds = 0.0
        built: dict[str, list[list[Cue]]] = {"before": [], "after": []}
        for source in sources:
            words, length = transcribe(source)
            seconds += length
            with before():
                built["before"].append(build.build_cues(clean_words(words), rules))
            built["after"].append(build.build_cues(clean_words(words), rules))
        print(f"{set_name} ({seconds:.0f} s of speech, {len(sources)} sources)")
        for label, per_source in built.items():
            figures = Figures()
            for cues in per_source:
                figures.add(cues, rules)
            print(f"  {label:6s} {figures.row()}")
        if args.show:
            for label, per_source in built.items():
                print(f"  --- {label}")
                for cue in (c for cues in per_source for c in cues if len(c.lines) == 2):
                    print(f"    {cue.lines[0]:42s} / {cue.lines[1]}")


if __name__ == "__main__":
    main()

"""A second speech file for live policy checks: other sentences, other voices.

The benchmark file repeats the same few sentences in one voice, so a policy tuned on it alone
could be tuned to them. This speaks 18 news-like sentences with espeak-ng, alternating its
en-us+f3 and en-gb voices, 0.8 s apart (about 100 s), into bench/out/other_voices.wav with
the reference text beside it (.txt). Needs Debian's espeak-ng (not needed by the tests).

Run: ``python bench/other_voices.py``, then ``python bench/live_policy.py --speech
bench/out/other_voices.wav``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from common import OUT, write_wav

from agents.decode.media import decode_audio
from streams.events.audio import SAMPLE_RATE

SENTENCES = (
    "The weather service expects heavy rain across the northern valleys by Thursday evening.",
    "Farmers have moved their cattle to higher ground and closed the lower gates.",
    "In the city, the council voted to extend the tram line toward the new hospital.",
    "Construction will begin in the spring and should take about three years.",
    "Critics say the budget is too small for a project of this size.",
    "Meanwhile the local football club won its fourth match in a row on Saturday.",
    "The coach praised the young goalkeeper, who stopped two penalties in the second half.",
    "Tickets for the next home game went on sale this morning and sold out within an hour.",
    "Scientists at the university have found a new way to recycle plastic bottles.",
    "Their method breaks the material down with enzymes at room temperature.",
    "They hope a pilot plant will open near the harbour before the end of next year.",
    "A small bakery on Market Street celebrated its hundredth birthday last week.",
    "The owner still uses her grandmother's recipe for rye bread and honey cake.",
    "Visitors queued around the corner for a free slice and a cup of coffee.",
    "The museum reopens on Monday after a long renovation of its western wing.",
    "Its most famous painting, a portrait of a sailor, has been cleaned for the first time"
    " in decades.",
    "Experts were surprised to find a second figure hidden beneath the varnish.",
    "Finally, drivers should expect delays on the coastal road because of repairs to the old"
    " bridge.",
)
VOICES = ("en-us+f3", "en-gb")
WPM = 155
GAP_S = 0.8


def speak(text: str, voice: str, folder: Path) -> np.ndarray:
    wav = folder / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(WPM), "-w", str(wav), text], check=True)
    return decode_audio(str(wav)).pcm


def main() -> None:
    silence = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.int16)
    with tempfile.TemporaryDirectory() as folder:
        pieces = [
            piece
            for i, text in enumerate(SENTENCES)
            for piece in (speak(text, VOICES[i % len(VOICES)], Path(folder)), silence)
        ]
    path = OUT / "other_voices.wav"
    write_wav(path, np.concatenate(pieces))
    path.with_suffix(".txt").write_text(" ".join(SENTENCES) + "\n", encoding="utf-8")
    print(f"wrote {path} ({sum(len(p) for p in pieces) / SAMPLE_RATE:.0f} s) and its .txt")


if __name__ == "__main__":
    main()

"""SRT and WebVTT rendering of cues (as CuesReady carries them: newline-joined lines),
delegated to pysubs2 rather than written by hand.

Speaker labels: WebVTT names each cue's voice (``<v Speaker 1>``; a two-line dialogue cue one
per line); SRT has no voice markup, so it keeps the broadcast convention the cue text already
follows (a dash leading each line of a two-speaker cue); live cues, one speaker each, get a dash
where the speaker changes (``dash_speaker_changes``)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

import pysubs2

from streams.cue_rules import DIALOGUE_DASH
from streams.events.model import CueRecord

# pysubs2 keeps SubStation conventions internally: "\N" is a hard line break in event text.
_LINE_BREAK = r"\N"
_FORMATS = frozenset({"srt", "vtt"})
# Event text is our plain text, never SubStation markup: without this pysubs2 would drop
# anything in "{...}" as an override tag.
_WRITE_OPTIONS: dict[str, bool] = {"keep_ssa_tags": True}


def _plain(line: str) -> str:
    return line


def _vtt_escape(line: str) -> str:
    # WebVTT cue text is markup: a literal "<" or "&" must be an entity ("-->" becomes "--&gt;").
    # SRT has no escaping at all, so its text is written verbatim.
    return html.escape(line, quote=False)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# A voice span's name: WebVTT ends the annotation at ">"; our names are "Speaker N".
_VOICE = re.compile(r"^<v(?:\.[^ >]*)? ([^>]*)>(.*?)(?:</v>)?$")


def _voice(name: str) -> str:
    return html.escape(name.replace(">", ""), quote=False)


def _vtt_lines(cue: CueRecord) -> list[str]:
    """A cue's escaped lines, with voice tags when it names its speakers."""
    lines = [_vtt_escape(line) for line in cue.text.split("\n")]
    speakers = cue.speaker.split("\n") if cue.speaker else []
    if len(speakers) == len(lines) > 1:  # a dialogue cue: one voice per line
        return [f"<v {_voice(s)}>{line}</v>" for s, line in zip(speakers, lines, strict=True)]
    if len(speakers) == 1 and speakers[0]:
        return [f"<v {_voice(speakers[0])}>{lines[0]}", *lines[1:]]
    return lines


def _ssafile(cues: Sequence[CueRecord], lines: Callable[[CueRecord], list[str]]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    # Sorted so that SRT numbering follows time, as the WebVTT writer already does.
    for cue in sorted(cues, key=lambda c: c.start):
        text = _LINE_BREAK.join(lines(cue))
        subs.append(pysubs2.SSAEvent(start=_ms(cue.start), end=_ms(cue.end), text=text))
    return subs


def _plain_lines(cue: CueRecord) -> list[str]:
    return cue.text.split("\n")


def to_ssafile(cues: Sequence[CueRecord]) -> pysubs2.SSAFile:
    """Cues as pysubs2 events (times in whole ms, lines joined with "\\N", text unescaped)."""
    return _ssafile(cues, _plain_lines)


def to_srt(cues: Sequence[CueRecord]) -> str:
    """SubRip text, numbered from 1; no cues gives an empty (valid) file."""
    return to_ssafile(cues).to_string("srt", **_WRITE_OPTIONS)


def dash_speaker_changes(cues: Sequence[CueRecord]) -> list[CueRecord]:
    """Cues of one speaker each (the live lane never joins two phrases) with SRT's speaker
    convention: the first line of a cue whose speaker is not the previous cue's starts with the
    dialogue dash, as each speaker's line of the file lane's two-speaker cues does. Unlabelled
    cues, and cues already dashed, stay as they are."""
    out: list[CueRecord] = []
    previous = ""
    for cue in sorted(cues, key=lambda c: c.start):
        text = cue.text
        changed = cue.speaker and previous and cue.speaker != previous
        if changed and not text.startswith(DIALOGUE_DASH):
            text = DIALOGUE_DASH + text
        previous = cue.speaker.split("\n")[-1] if cue.speaker else previous
        out.append(CueRecord(start=cue.start, end=cue.end, text=text, speaker=cue.speaker))
    return out


def to_vtt(cues: Sequence[CueRecord], language: str = "") -> str:
    """WebVTT text; always starts with the "WEBVTT" header, even with no cues, followed by a
    ``Language:`` header line (as players and YouTube read it) when the language is known."""
    text = _ssafile(cues, _vtt_lines).to_string("vtt", **_WRITE_OPTIONS)
    if not language:
        return text
    header, _, rest = text.partition("\n")
    return f"{header}\nLanguage: {language}\n{rest}"


def parse_cues(text: str, format_: str) -> list[CueRecord]:
    """Read "srt" or "vtt" text back into cues, keeping markup-like text literally."""
    fmt = format_.lower().lstrip(".")
    if fmt not in _FORMATS:
        raise ValueError(f"unsupported subtitle format {format_!r}; expected 'srt' or 'vtt'")
    # keep_html_tags: our "<" is text, not formatting, and must not be stripped or converted.
    subs = pysubs2.SSAFile.from_string(text, format_=fmt, keep_html_tags=True)
    unescape = html.unescape if fmt == "vtt" else _plain
    cues = []
    for event in subs:
        lines, speakers = [], []
        for line in event.text.split(_LINE_BREAK):
            voice = _VOICE.match(line) if fmt == "vtt" else None
            if voice:
                speakers.append(html.unescape(voice[1]))
                line = voice[2]
            lines.append(unescape(line))
        cues.append(
            CueRecord(
                start=event.start / 1000,
                end=event.end / 1000,
                text="\n".join(lines),
                speaker="\n".join(speakers),
            )
        )
    return cues

"""Apertium (rule-based, Debian's ``apertium`` and its language-pair packages) as a backend.

One ``apertium <mode>`` process per batch. Texts are separated by a blank line: Apertium's text
deformatter ends a sentence at a blank line, so no rule reorders words across two texts (a single
newline does not: "I like the\\ngreen car" comes back as "Me gusta la\\npalabra de..."). A text
never holds a blank line itself (translate_nonblank flattens it to one line). Unknown-word marks:
``-u`` drops the ``*``; the ``#`` (no generated form) and ``@`` (not in the bilingual dictionary)
marks are removed here unless the source text has that character.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence

from agents.translate.backends import TranslationUnavailable, translate_nonblank

_SEPARATOR = "\n\n"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def clean_marks(source: str, translated: str) -> str:
    """The translation without Apertium's ``#``/``@`` marks (those not in the source), its
    whitespace normalised (a dropped pronoun leaves two spaces)."""
    marks = "".join(mark for mark in "#@" if mark not in source)
    if marks:
        translated = re.sub(rf"(?<!\S)[{re.escape(marks)}](?=\w)", "", translated)
    return " ".join(translated.split())


def installed_modes(program: str = "apertium") -> list[str]:
    """The translation directions installed (``apertium -l``)."""
    listed = subprocess.run([program, "-l"], capture_output=True, text=True, check=False)
    return listed.stdout.split()


def _package_version(package: str) -> str:
    """The Debian package's version, or 'unknown' away from Debian."""
    if shutil.which("dpkg-query") is None:
        return "unknown"
    query = ["dpkg-query", "-W", "-f=${Version}", package]
    found = subprocess.run(query, capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 and found.stdout else "unknown"


class ApertiumTranslator:
    """Translates through ``apertium -u <mode>`` (e.g. mode ``eng-spa``)."""

    def __init__(self, mode: str, *, timeout_s: float = 120.0) -> None:
        program = shutil.which("apertium")
        if program is None:
            raise TranslationUnavailable(
                f"apertium is not installed (apt-get install apertium apertium-{mode})"
            )
        modes = installed_modes(program)
        if mode not in modes:
            raise TranslationUnavailable(
                f"apertium mode {mode} is not installed (installed: {', '.join(modes) or 'none'};"
                f" apt-get install apertium-{mode})"
            )
        self._program = program
        self._mode = mode
        self._timeout_s = timeout_s
        self._version = (
            f"apertium {_package_version('apertium')}, "
            f"apertium-{mode} {_package_version(f'apertium-{mode}')}"
        )

    @property
    def name(self) -> str:
        return f"apertium {self._mode}"

    @property
    def version(self) -> str:
        return self._version

    def translate(self, texts: Sequence[str]) -> list[str]:
        return translate_nonblank(texts, self._translate_lines)

    def _run(self, text: str) -> str:
        done = subprocess.run(
            [self._program, "-u", self._mode],
            input=text,
            capture_output=True,
            text=True,
            timeout=self._timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"apertium {self._mode} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def _translate_lines(self, lines: list[str]) -> list[str]:
        parts = _BLANK_LINE.split(self._run(_SEPARATOR.join(lines)).strip("\n"))
        if len(parts) != len(lines):
            # Not seen on any input tried; the texts one by one keep the alignment regardless.
            parts = [self._run(line) for line in lines]
        return [clean_marks(src, out) for src, out in zip(lines, parts, strict=True)]

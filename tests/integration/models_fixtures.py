"""Declared test models for the swap and shadow tests: a second copy of tiny.en (another
name and version, the same weights) and one whose model.bin is corrupt."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from click.testing import CliRunner, Result

from clients.cli import main
from streams.events.codec import AvroCodec
from streams.events.model import SegmentTranscribed
from streams.models.catalog import load_catalog, model_path
from streams.settings import KaptionSettings
from tests.integration.helpers import read, value_of

COPY, BROKEN = "tiny-copy", "broken"


def declare_models(directory: Path) -> Path:
    """A models file declaring COPY and BROKEN next to their directories."""
    tiny = model_path(load_catalog(KaptionSettings()).get("tiny.en"))
    shutil.copytree(tiny, directory / COPY)
    shutil.copytree(tiny, directory / BROKEN)
    (directory / BROKEN / "model.bin").write_bytes(b"not a CTranslate2 model" * 100)
    models = directory / "models.yaml"
    models.write_text(
        "models:\n"
        f"  {COPY}:\n    version: copy\n    path: {COPY}\n"
        f"  {BROKEN}:\n    version: bad\n    path: {BROKEN}\n",
        encoding="utf-8",
    )
    return models


def invoke(settings: KaptionSettings, *args: str) -> Result:
    """`kaption ARGS` in this process against the settings' broker, prefix and models file
    (through the environment, as a user's shell gives it)."""
    flags = ["--bootstrap-servers", str(settings.bootstrap_servers)]
    flags += ["--topic-prefix", settings.topic_prefix]
    env = {"KAPTION_MODELS_FILE": str(settings.models_file)}
    return CliRunner().invoke(main, [*args, *flags], catch_exceptions=False, env=env)


def transcripts(
    settings: KaptionSettings, topic: str, count: int, timeout_s: float = 60.0
) -> list[SegmentTranscribed]:
    codec = AvroCodec(settings.schemas_dir)
    return [
        codec.decode_as(SegmentTranscribed, value_of(m))
        for m in read(settings, topic, count, timeout_s)
    ]


def once_each(found: list[SegmentTranscribed]) -> Counter[str]:
    return Counter(t.segment_id for t in found)

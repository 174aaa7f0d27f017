"""A tiny Marian translation model built from nothing (random weights, a sentencepiece vocabulary
trained on a few sentences), laid out exactly like an Opus-MT download: the tests and benchmarks
load it through the same code users run, since no machine here reaches a model hub.

Its translations are nonsense; what it proves is that loading, tokenization, batching and
decoding agree between the transformers and CTranslate2 paths.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MarianShape:
    """A Marian model's size. TINY for tests; OPUS_MT is Helsinki-NLP's opus-mt-* (6+6 layers,
    512 wide, 58 101 tokens): random weights of that size cost what a real model costs."""

    d_model: int = 32
    layers: int = 2
    heads: int = 2
    ffn: int = 64
    vocab: int = 0  # 0: the sentencepiece pieces only; more: unused entries up to this size
    positions: int = 128


TINY = MarianShape()
OPUS_MT = MarianShape(d_model=512, layers=6, heads=8, ffn=2048, vocab=58_101, positions=512)

SENTENCES = (
    "The house is red.",
    "I like the green car.",
    "Where are you going tonight?",
    "She said yes to the new plan.",
    "We watched the film with subtitles.",
    "The weather will be cold tomorrow morning.",
    "Please close the door behind you.",
    "He reads a book every week.",
    "The children are playing in the garden.",
    "My brother works at the hospital.",
    "This is the best coffee in town.",
    "They arrived late because of the rain.",
    "Can you help me with this question?",
    "The meeting starts at nine o'clock.",
    "Music makes everything better.",
    "La casa es roja.",
    "Me gusta el coche verde.",
    "¿Adónde vas esta noche?",
    "Ella dijo que sí al nuevo plan.",
    "Vimos la película con subtítulos.",
    "Mañana por la mañana hará frío.",
    "Por favor, cierra la puerta.",
    "Él lee un libro cada semana.",
    "Los niños juegan en el jardín.",
    "Mi hermano trabaja en el hospital.",
    "Este es el mejor café de la ciudad.",
    "Llegaron tarde por la lluvia.",
    "¿Puedes ayudarme con esta pregunta?",
    "La reunión empieza a las nueve.",
    "La música lo mejora todo.",
)


def _train_sentencepiece(vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        # Opus-MT's pieces: no BOS, </s> as EOS; MarianTokenizer adds its own ids from vocab.json.
        bos_id=-1,
        eos_id=1,
        unk_id=0,
        minloglevel=2,
    )
    return model.getvalue()


def build_tiny_marian(
    out_dir: Path,
    *,
    seed: int = 0,
    vocab_size: int = 120,
    eos_bias: float = 2.2,
    shape: MarianShape = TINY,
) -> Path:
    """Writes a tiny MarianMT model (config, random weights, tokenizer files) into ``out_dir``.
    ``eos_bias`` makes </s> likelier: at 2.2 outputs end after a few tokens, at different
    lengths (padded rows in a batch); at 0 they run to the length limit."""
    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    spm_bytes = _train_sentencepiece(vocab_size)
    for name in ("source.spm", "target.spm"):
        (out_dir / name).write_bytes(spm_bytes)
    pieces = spm.SentencePieceProcessor(model_proto=spm_bytes)
    # Opus-MT's vocabulary: </s> 0, <unk> 1, the pieces, <pad> last (CTranslate2's converter
    # drops the last entry, the decoder's zero start embedding).
    words = [pieces.id_to_piece(i) for i in range(pieces.get_piece_size())]
    vocab = ["</s>", "<unk>", *(w for w in words if w not in ("<unk>", "</s>"))]
    vocab += [f"▁unused{i}" for i in range(shape.vocab - len(vocab) - 1)] + ["<pad>"]
    (out_dir / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(vocab)}))
    pad = len(vocab) - 1
    tokenizer = MarianTokenizer(
        source_spm=str(out_dir / "source.spm"),
        target_spm=str(out_dir / "target.spm"),
        vocab=str(out_dir / "vocab.json"),
        source_lang="en",
        target_lang="es",
    )
    tokenizer.save_pretrained(str(out_dir))
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=shape.d_model,
        encoder_layers=shape.layers,
        decoder_layers=shape.layers,
        encoder_attention_heads=shape.heads,
        decoder_attention_heads=shape.heads,
        encoder_ffn_dim=shape.ffn,
        decoder_ffn_dim=shape.ffn,
        max_position_embeddings=shape.positions,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        # No forced </s> at the length limit: CTranslate2 has none, and a random model reaches it.
        forced_eos_token_id=None,
        # Wider than the default 0.02: outputs depend on the input, logits stand apart.
        init_std=0.1,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, 0] = eos_bias
    model.save_pretrained(str(out_dir))
    # As in Opus-MT's generation_config.json: <pad> is never generated.
    GenerationConfig(
        bad_words_ids=[[pad]],
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=None,
        pad_token_id=pad,
        num_beams=1,
    ).save_pretrained(str(out_dir))
    return out_dir


def build_tiny_m2m100(out_dir: Path, *, seed: int = 0, vocab_size: int = 120) -> Path:
    """Writes a tiny M2M100 model (language tokens such as ``__es__``, which the translation
    must start with) into ``out_dir``: the NLLB / M2M100 code paths (source and target codes)."""
    import sentencepiece as spm
    import torch
    from transformers import (
        GenerationConfig,
        M2M100Config,
        M2M100ForConditionalGeneration,
        M2M100Tokenizer,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    spm_bytes = _train_sentencepiece(vocab_size)
    spm_path = out_dir / "sentencepiece.bpe.model"
    spm_path.write_bytes(spm_bytes)
    pieces = spm.SentencePieceProcessor(model_proto=spm_bytes)
    words = [pieces.id_to_piece(i) for i in range(pieces.get_piece_size())]
    # fairseq's order, as in facebook/m2m100_418M: <s> <pad> </s> <unk>, then the pieces.
    vocab = ["<s>", "<pad>", "</s>", "<unk>", *(w for w in words if w not in ("<unk>", "</s>"))]
    (out_dir / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(vocab)}))
    tokenizer = M2M100Tokenizer(
        vocab_file=str(out_dir / "vocab.json"), spm_file=str(spm_path), src_lang="en", tgt_lang="es"
    )
    tokenizer.save_pretrained(str(out_dir))
    config = M2M100Config(
        # The vocabulary, then a token per language and 8 made-up words, as M2M100 has.
        vocab_size=len(vocab) + len(tokenizer.lang_token_to_id) + 8,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        init_std=0.1,
    )
    torch.manual_seed(seed)
    M2M100ForConditionalGeneration(config).eval().save_pretrained(str(out_dir))
    GenerationConfig(
        bos_token_id=0, decoder_start_token_id=2, eos_token_id=2, pad_token_id=1, num_beams=1
    ).save_pretrained(str(out_dir))
    return out_dir

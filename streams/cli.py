"""The ``kaption`` command line: broker, topics, worker, submit, run, lag."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.admin import BrokerUnreachable, apply_topics, consumer_lag
from streams.broker import embedded_broker
from streams.client import JobClient, JobResult, JobTimeout
from streams.events import JobState, JobStatus
from streams.logs import configure_logging
from streams.processes import worker_process
from streams.settings import KaptionSettings
from streams.status import COLUMNS, read_statuses, status_json, status_rows

console = Console(stderr=True)


def make_settings(**overrides: Any) -> KaptionSettings:
    """Environment (KAPTION_*, KAFKA_BOOTSTRAP_SERVERS) plus the flags a user actually gave."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return KaptionSettings(**given)


def kafka_options(fn: Any) -> Any:
    fn = click.option(
        "--bootstrap-servers",
        "bootstrap_servers",
        default=None,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS; none = embedded broker).",
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
    """Turns an unreachable broker into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokerUnreachable as exc:
            raise click.ClickException(f"cannot reach Kafka: {exc}") from exc


@click.group(cls=KaptionGroup)
def main() -> None:
    """kaption: subtitles for video files, through Kafka and Faust agents."""


@main.command()
@click.option("--port", default=None, type=int, help="Port on 127.0.0.1 (default 9092).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) until interrupted."""
    settings = make_settings()
    with embedded_broker(port if port is not None else settings.embedded_broker_port) as address:
        click.echo(f"kaption broker listening on {address}")
        click.echo(f"export KAFKA_BOOTSTRAP_SERVERS={address}")
        with contextlib.suppress(KeyboardInterrupt):
            signal.sigwait({signal.SIGINT, signal.SIGTERM})


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
    from agents.roles import ALL, STAGES

    return click.Choice([ALL, *STAGES])


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
    from agents.roles import register_function, stages_for
    from streams.worker import run_worker

    settings = require_broker(make_settings(**options))
    run_worker(settings, stages_for(roles), register_function)


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


def submit_and_wait(
    settings: KaptionSettings, source: str, name: str | None, timeout_s: float, alive: Any = None
) -> JobResult:
    columns = (
        TextColumn("{task.description:>14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[audio]}"),
        TimeElapsedColumn(),
    )
    with JobClient(settings) as client:
        job_id = client.submit(source, name)
        console.print(f"job {job_id}: {source}")
        with Progress(*columns, console=console, transient=False) as progress:
            view = ProgressView(progress)
            try:
                return client.wait(job_id, timeout_s, view, alive or (lambda: True))
            except JobTimeout as exc:
                raise click.ClickException(str(exc)) from exc


def report(result: JobResult, out: Path | None) -> None:
    """Writes the files (if any) and prints the outcome; the caller sets the exit code."""
    status = result.status
    for path in result.write(out) if out else []:
        click.echo(path)
    summary = f"{status.state}: {status.segments_done}/{status.segments_total} segments"
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
@kafka_options
def submit(
    source: str, wait: bool, out: Path | None, name: str | None, timeout: float, **options: Any
) -> None:
    """Publish a job for SOURCE (a path or URL the workers can read) to a running cluster."""
    settings = require_broker(make_settings(**options))
    source = source if "://" in source else str(Path(source).resolve())
    if not wait:
        with JobClient(settings) as client:
            click.echo(client.submit(source, name))
        return
    result = submit_and_wait(settings, source, name, timeout)
    report(result, out)
    sys.exit(exit_code(result))


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option(
    "--model", default=None, help="faster-whisper model name or path (default bundled tiny.en)."
)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@metrics_option
@kafka_options
def run(video: Path, out: Path, model: str | None, timeout: float, **options: Any) -> None:
    """One machine: broker (embedded unless given), topics, all roles, submit, write subtitles."""

    started = time.perf_counter()
    settings = make_settings(whisper_model=model, **options)
    embedded = not settings.bootstrap_servers
    with contextlib.ExitStack() as stack:
        if embedded:
            log = settings.data_dir / "broker.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            address = stack.enter_context(embedded_broker(0, log))
            settings = settings.model_copy(update={"bootstrap_servers": address})
        apply_topics(settings)
        worker_log = settings.data_dir / "worker.log"
        # With an embedded (throwaway) broker a graceful worker shutdown protects nothing.
        process = stack.enter_context(
            worker_process(settings, "all", worker_log, graceful=not embedded)
        )
        try:
            result = submit_and_wait(
                settings, str(video.resolve()), None, timeout, lambda: process.poll() is None
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


@main.command()
@click.option("--port", default=9308, show_default=True, help="Port of /metrics (0: a free one).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@kafka_options
def exporter(port: int, host: str, **options: Any) -> None:
    """Serve consumer lag and offsets under kafka_exporter's metric names until interrupted."""
    from streams.exporter import serve_exporter

    settings = require_broker(make_settings(**options))
    configure_logging(settings.log_level, settings.log_format)
    endpoint = serve_exporter(settings, port, host)
    click.echo(f"kaption exporter on http://{host}:{endpoint.port}/metrics")
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    endpoint.stop()


@main.command()
@click.option(
    "--group", "groups", multiple=True, help="Consumer group (repeat; default every stage's)."
)
@kafka_options
def lag(groups: tuple[str, ...], **options: Any) -> None:
    """Committed offset, end offset and lag per consumer group, topic and partition."""
    from agents.roles import STAGES

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


if __name__ == "__main__":
    main()

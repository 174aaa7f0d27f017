"""`kaption models`: the declared models, switching a stage's model in every worker without
downtime (`use`), what each worker serves (`list`), and shadow comparisons (`compare`,
`replay`)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from clients.status import read_statuses, read_topic
from streams.broker.topics import Outgoing
from streams.events.codec import DecodeError
from streams.events.model import (
    Event,
    LiveTranscript,
    ModelServing,
    ModelState,
    ModelSwitch,
    SegmentTranscribed,
)
from streams.events.registry import event_codec
from streams.models.catalog import load_catalog
from streams.models.control import (
    CONTROL_TOPIC,
    SHADOW_LIVE_TOPIC,
    SHADOW_TOPIC,
    STATUS_TOPIC,
    SWITCHABLE,
    switch,
)
from streams.settings import KaptionSettings

USE_TIMEOUT_S = 120.0
# A worker reports its state every 30 s (streams/models/serving.py): one silent for longer than
# this is taken for dead (killed without deleting its entry).
STALE_S = 100.0


def settings_from(**options: Any) -> KaptionSettings:
    settings = KaptionSettings(**{k: v for k, v in options.items() if v is not None})
    if not settings.bootstrap_servers:
        raise click.UsageError("no broker: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
    return settings


def broker_options(fn: Any) -> Any:
    fn = click.option("--bootstrap-servers", default=None, help="Kafka bootstrap servers.")(fn)
    return click.option("--topic-prefix", default=None, help="Topic name prefix.")(fn)


def read_events(settings: KaptionSettings, logical: str, what: str) -> dict[bytes, Event]:
    """The last event per key on a topic (tombstones forget their key)."""
    codec = event_codec(settings)
    found: dict[bytes, Event] = {}

    def take(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            found.pop(key or b"", None)
            return
        with contextlib.suppress(DecodeError):  # not ours to judge
            found[key or b""] = codec.decode(value)

    read_topic(settings, logical, take, what, timeout_s=30.0)
    return found


def read_all(settings: KaptionSettings, logical: str) -> list[Event]:
    codec = event_codec(settings)
    found: list[Event] = []

    def take(key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            with contextlib.suppress(DecodeError):
                found.append(codec.decode(value))

    read_topic(settings, logical, take, logical, timeout_s=60.0)
    return found


def workers(settings: KaptionSettings) -> list[ModelServing]:
    states = read_events(settings, STATUS_TOPIC, "model states")
    return sorted(
        (e for e in states.values() if isinstance(e, ModelServing)),
        key=lambda e: (e.stage, e.instance),
    )


def age_s(event: ModelServing, now: datetime) -> float:
    return (now - event.at).total_seconds()


def describe(event: ModelServing) -> str:
    if event.state == ModelState.FAILED:
        serving = f"; {event.model} serves on" if event.model else ""
        return f"FAILED to load {event.requested}: {event.reason}{serving}"
    if event.state == ModelState.LOADING:
        return f"loading {event.requested} ({event.model} serves meanwhile)"
    took = f" (loaded in {event.load_seconds:.1f} s)" if event.load_seconds else ""
    return f"serving {event.model}{took}"


@click.group()
def models() -> None:
    """Declared models: switch a stage's model in every worker, compare a shadow model."""


@models.command("use")
@click.argument("stage", type=click.Choice(SWITCHABLE))
@click.argument("name")
@click.option("--timeout", default=USE_TIMEOUT_S, show_default=True, help="Seconds to wait.")
@broker_options
def use(stage: str, name: str, timeout: float, **options: Any) -> None:
    """Switch STAGE to model NAME in every worker (new work goes to NAME once a worker has
    loaded it; work in flight finishes on the old one). Waits for each running worker's
    answer; exits 1 when a worker could not load NAME (it keeps its old model)."""
    settings = settings_from(**options)
    try:
        spec = load_catalog(settings).get(name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    now = datetime.now(UTC)
    expected = {
        e.instance for e in workers(settings) if e.stage == stage and age_s(e, now) < STALE_S
    }
    event = switch(stage, name)
    answers = publish_and_wait(settings, event, expected, timeout)
    click.echo(f"{stage}: switch to {spec.label} published (request {event.request_id})")
    for instance, answer in sorted(answers.items()):
        click.echo(f"  {instance}: {describe(answer)}")
    missing = sorted(expected - set(answers))
    for instance in missing:
        click.echo(f"  {instance}: no answer within {timeout:.0f} s")
    if not expected and not answers:
        click.echo("  no running worker of this stage: those that start will serve it")
    if any(a.state == ModelState.FAILED for a in answers.values()):
        sys.exit(1)
    if missing:
        sys.exit(2)


def publish_and_wait(
    settings: KaptionSettings, event: ModelSwitch, expected: set[str], timeout_s: float
) -> dict[str, ModelServing]:
    """Publishes the switch, then reads models.status (from its end before publishing) for the
    answers to it: until every expected worker has served or refused it, or the timeout."""
    from clients.jobs import JobClient

    class Client(JobClient):
        READS = (STATUS_TOPIC,)

    answers: dict[str, ModelServing] = {}
    with Client(settings) as client:
        client.send(Outgoing(CONTROL_TOPIC, event))
        started = time.monotonic()
        while time.monotonic() < started + timeout_s:
            for message in client.consumer.consume(num_messages=100, timeout=0.2):
                if message.error() is not None or message.value() is None:
                    continue
                try:
                    got = client.codec.decode(message.value())
                except DecodeError:
                    continue
                if isinstance(got, ModelServing) and got.request_id == event.request_id:
                    answers[got.instance] = got
            final = {i for i, a in answers.items() if a.state != ModelState.LOADING}
            if expected and expected <= final:
                break
            if not expected and time.monotonic() > started + 5:
                break  # no worker known: a few seconds for one that just started
    return answers


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@broker_options
def list_models(as_json: bool, **options: Any) -> None:
    """Declared models, each stage's chosen model and what each worker serves."""
    settings = settings_from(**options)
    catalog = load_catalog(settings)
    default = catalog.get("")
    live_default = catalog.get(settings.live_whisper_model)
    chosen = {
        e.stage: e.model
        for e in read_events(settings, CONTROL_TOPIC, "model switches").values()
        if isinstance(e, ModelSwitch)
    }
    now = datetime.now(UTC)
    states = workers(settings)
    rows = [
        {
            "instance": e.instance,
            "stage": e.stage,
            "model": e.model,
            "state": e.state.value,
            "requested": e.requested,
            "reason": e.reason,
            "age_s": round(age_s(e, now), 1),
            "stale": age_s(e, now) >= STALE_S,
        }
        for e in states
    ]
    declared = [
        {
            "name": s.name,
            "label": s.label,
            "multilingual": s.multilingual,
            "source": s.path or s.package,
            "default": s.name == default.name,
            "live_default": s.name == live_default.name,
        }
        for s in catalog.specs()
    ]
    if as_json:
        click.echo(json.dumps({"declared": declared, "chosen": chosen, "workers": rows}, indent=2))
        return
    click.echo("declared models:")
    for d in declared:
        marks = [
            m for m, on in (("default", d["default"]), ("live default", d["live_default"])) if on
        ]
        mark = f" ({', '.join(marks)})" if marks else ""
        click.echo(f"  {d['label']}{mark}  {d['source']}")
    click.echo(
        "stages' choices: "
        + (", ".join(f"{k}={v or 'default'}" for k, v in chosen.items()) or "none (defaults)")
    )
    click.echo("workers:")
    for row, event in zip(rows, states, strict=True):
        stale = f" (stale: no report for {row['age_s']} s)" if row["stale"] else ""
        click.echo(f"  {row['instance']}: {describe(event)}{stale}")


@models.command("compare")
@click.option("--job", "jobs", multiple=True, help="Only these jobs (or streams with --live).")
@click.option(
    "--references",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Reference texts: DIR/<job name>.txt (or <job id>.txt; <stream id>.txt with --live).",
)
@click.option("--live", is_flag=True, help="Live streams' final phrases instead of files.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@broker_options
def compare_command(
    jobs: tuple[str, ...], references: Path | None, live: bool, as_json: bool, **options: Any
) -> None:
    """Primary transcripts beside each shadow model's, over the jobs both saw: WER between
    them (and against references), speed and confidence."""
    from clients.model_compare import compare

    settings = settings_from(**options)
    primary_topic, shadow_topic = (
        ("live.transcripts", SHADOW_LIVE_TOPIC) if live else ("segments.transcribed", SHADOW_TOPIC)
    )
    kind = LiveTranscript if live else SegmentTranscribed
    primary = [e for e in read_all(settings, primary_topic) if isinstance(e, kind)]
    shadow = [e for e in read_all(settings, shadow_topic) if isinstance(e, kind)]
    texts = reference_texts(settings, references, live) if references else {}
    found = compare(primary, shadow, jobs, texts)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in found], indent=2))
        return
    if not found:
        click.echo(
            "nothing to compare: no segment was transcribed by both a shadow and the primary"
        )
        return
    for c in found:
        d = c.as_dict()
        click.echo(
            f"{c.shadow} against {', '.join(c.primary.models)}: {len(c.groups)} "
            f"{'streams' if live else 'jobs'}, {c.primary.segments} segments, "
            f"WER between them {fmt(c.wer_vs_primary)}"
        )
        for name, side in (("primary", d["primary"]), ("shadow", d["candidate"])):
            assert isinstance(side, dict)
            click.echo(
                f"  {name:8} speed {fmt(side['speed'])} s/s  confidence {fmt(side['confidence'])}"
                f"  WER vs references {fmt(side['wer_vs_references'])}"
            )


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def reference_texts(settings: KaptionSettings, directory: Path, live: bool) -> dict[str, str]:
    """Reference text per job id (by the job's name or id) or per stream id."""
    files = {p.stem: p.read_text(encoding="utf-8") for p in directory.glob("*.txt")}
    if live:
        return files
    found = {}
    for job_id, status in read_statuses(settings, timeout_s=30.0).items():
        text = files.get(status.name, files.get(job_id))
        if text is not None:
            found[job_id] = text
    return found


@models.command("replay")
@click.argument("name")
@click.option("--since", default=None, help="ISO time: segments from then (default: all kept).")
@click.option("--job", "jobs", multiple=True, help="Only these jobs' segments.")
@broker_options
def replay_command(name: str, since: str | None, jobs: tuple[str, ...], **options: Any) -> None:
    """Transcribe retained segments with model NAME into shadow.transcripts (up to the end
    they had when it started), so `models compare` covers them after the fact."""
    from streams.runtime.roles import replay_function

    settings = settings_from(**options)
    try:
        load_catalog(settings).get(name)
        start = parse_since(since)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    count = replay_function()(settings, name, start, jobs, click.echo)
    click.echo(f"replayed {count} segments with {name} into {SHADOW_TOPIC}")


def parse_since(since: str | None) -> datetime | None:
    if not since:
        return None
    when = datetime.fromisoformat(since)
    return when if when.tzinfo else when.replace(tzinfo=UTC)

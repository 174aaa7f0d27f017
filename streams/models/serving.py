"""The model a worker's stage serves now, switched without downtime.

Each worker of a stage follows ``models.control`` from its beginning (no consumer group: every
worker must see every switch), so one it starts with the stage's last choice and a running one
switches when a new choice arrives: the new model loads on a thread of its own while the old one
serves, then replaces it in one assignment. A batch asks ``current()`` once and keeps the pair
it got, so work in flight finishes on the old model and nothing is dropped or done twice (the
segments' offsets are untouched). A model that fails to load leaves the old one serving. Each
step is published on ``models.status`` (what `kaption models use` waits for), logged and
counted (kaption_model_serving, kaption_model_switches).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from streams.broker.topics import Outgoing
from streams.events.model import ModelServing, ModelState, ModelSwitch
from streams.models.catalog import Catalog, ModelSpec, reload_catalog
from streams.models.control import (
    STATUS_TOPIC,
    ControlReader,
    latest,
    refreshed,
    serving_event,
    worker_id,
)
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
M = TypeVar("M")

CONTROL_READ_S = 10.0  # reading the choices made so far, at start
POLL_S = 1.0  # a switch reaches a running worker within about this long
REPORT_EVERY_S = 30.0  # the state published again: `models list` tells live workers by it
FIRST_LOAD_WAIT_S = 600.0  # a batch waits this long for the first model to load


class NoModelError(RuntimeError):
    """The stage's model failed to load (missing, undeclared, corrupt): every batch would fail
    the same way until a switch (`kaption models use`) names one that loads."""


def fresh_catalog(settings: KaptionSettings) -> Catalog:
    """The catalog as the models file says now: a model declared after the worker started can
    be switched to without a restart."""
    return reload_catalog(settings)


class ModelServer(Generic[M]):
    """One stage's model in one worker. ``key`` is the stage's key on ``models.control``
    (the stage's name); ``follow=False`` serves ``model`` and takes no switches (a shadow).
    ``load`` builds the model object of a spec (blocking; it runs on this server's thread)."""

    def __init__(
        self,
        stage: Stage,
        load: Callable[[ModelSpec], M],
        key: str = "",
        follow: bool = True,
        model: str = "",
        check: str = "",
    ) -> None:
        self.stage = stage
        self.key = key or stage.name
        self.load = load
        self.follow = follow
        self.fixed = model
        self.check = check or f"{self.key} model loaded"  # its readiness check's name
        self.worker = worker_id()
        self._current: tuple[ModelSpec, M] | None = None
        self._loaded = threading.Event()  # set once the first load ended, either way
        self._failed: BaseException | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"models-{self.key}")
        self._reader: ControlReader | None = None
        self._pending: list[ModelServing] = []  # reports made before the producer ran
        self._last: ModelServing | None = None
        self._first: Future[None] | None = None

    # --- what the stage uses ---------------------------------------------------------------

    def start(self) -> None:
        """At registration: the first model loads while the worker joins its group; switches
        are followed once the app runs."""
        self._first = self._thread.submit(self._load_first)
        for outcome in ("served", "failed"):  # both series exist from the start, at zero
            METRICS.model_switches.labels(self.key, outcome)
        self.stage.platform.checks[self.check] = self.ready
        self.stage.app.task(self._follow)

    def ready(self) -> bool:
        return self._current is not None

    def current_spec(self) -> ModelSpec | None:
        """What serves now, without waiting (None before the first load)."""
        return None if self._current is None else self._current[0]

    def current(self) -> tuple[ModelSpec, M]:
        """The model to use for the next batch (blocks until the first one has loaded)."""
        if not self._loaded.wait(FIRST_LOAD_WAIT_S):
            raise RuntimeError(f"{self.key}: no model loaded after {FIRST_LOAD_WAIT_S:.0f} s")
        if self._current is None:
            raise NoModelError(f"{self.key}: no model could be loaded: {self._failed}")
        return self._current

    # --- loading ---------------------------------------------------------------------------

    def _load_spec(self, name: str) -> tuple[ModelSpec, M, float]:
        started = time.perf_counter()
        spec = fresh_catalog(self.stage.settings).get(name)
        model = self.load(spec)
        return spec, model, time.perf_counter() - started

    def _load_first(self) -> None:
        requested, request_id = self.fixed, ""
        if self.follow:
            try:
                self._reader = ControlReader(self.stage.settings, self.stage.platform.codec)
                chosen = latest(self._reader.read_to_end(CONTROL_READ_S), self.key)
            except Exception as exc:  # no broker yet: the default now, switches later
                log.warning("%s: could not read models.control (%s): default model", self.key, exc)
                chosen = None
            if chosen is not None:
                requested, request_id = chosen.model, chosen.request_id
        try:
            try:
                spec, model, took = self._load_spec(requested)
                report = ModelState.SERVING, ""
            except Exception as exc:
                if not self.follow or not requested:
                    raise
                log.error(
                    "%s: model %r did not load (%s): the default serves", self.key, requested, exc
                )
                spec, model, took = self._load_spec("")
                report = ModelState.FAILED, reason(exc)
        except Exception as exc:
            self._failed = exc
            log.error("%s: no model could be loaded: %s", self.key, exc)
            self._report(ModelState.FAILED, "", requested, request_id, reason(exc))
            self._loaded.set()
            raise
        self._serve(spec, model, took)
        log.info("%s: serving %s (loaded in %.1f s)", self.key, spec.label, took)
        self._report(report[0], spec.label, requested, request_id, report[1], took)
        self._loaded.set()

    def _serve(self, spec: ModelSpec, model: M, took: float) -> None:
        old = self._current
        # One assignment: a batch that already took the old pair keeps it to its end.
        self._current = (spec, model)
        if old is not None and old[0].label != spec.label:
            METRICS.model_serving.labels(self.key, old[0].label).set(0)
        METRICS.model_serving.labels(self.key, spec.label).set(1)
        METRICS.model_load_seconds.labels(self.key).set(took)

    # --- following switches ----------------------------------------------------------------

    def _poll(self) -> list[ModelSwitch]:
        if self._reader is None:
            self._reader = ControlReader(self.stage.settings, self.stage.platform.codec)
        return self._reader.poll(POLL_S)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._first is not None
        try:
            with contextlib.suppress(Exception):  # logged where it failed
                await asyncio.wrap_future(self._first)
            await self._publish_pending()
            reported = time.monotonic()
            while True:
                if self.follow:
                    try:
                        chosen = latest(
                            await loop.run_in_executor(self._thread, self._poll), self.key
                        )
                    except Exception as exc:
                        log.warning("%s: reading models.control: %s", self.key, exc)
                        chosen = None
                        await asyncio.sleep(POLL_S)
                    if chosen is not None and self._current is not None:
                        await self._switch(chosen)
                else:
                    await asyncio.sleep(POLL_S)
                await self._publish_pending()
                if self._last is not None and time.monotonic() - reported >= REPORT_EVERY_S:
                    self._report_event(refreshed(self._last))
                    await self._publish_pending()
                    reported = time.monotonic()
        finally:
            await self._forget()

    async def _switch(self, chosen: ModelSwitch) -> None:
        assert self._current is not None
        old = self._current[0]
        loop = asyncio.get_running_loop()
        try:
            wanted = fresh_catalog(self.stage.settings).get(chosen.model)
        except Exception as exc:
            self._refuse(chosen, old, exc)
            return
        if wanted == old:  # already serving it: answer, load nothing
            self._report(ModelState.SERVING, old.label, chosen.model, chosen.request_id)
            return
        log.info("%s: loading %s (%s serves meanwhile)", self.key, wanted.label, old.label)
        self._report(ModelState.LOADING, old.label, chosen.model, chosen.request_id)
        await self._publish_pending()
        try:
            spec, model, took = await loop.run_in_executor(
                self._thread, self._load_spec, chosen.model
            )
        except Exception as exc:
            self._refuse(chosen, old, exc)
            return
        self._serve(spec, model, took)
        METRICS.model_switches.labels(self.key, "served").inc()
        log.info(
            "%s: switched %s -> %s (loaded in %.1f s; batches in flight finish on %s)",
            self.key,
            old.label,
            spec.label,
            took,
            old.label,
        )
        self._report(ModelState.SERVING, spec.label, chosen.model, chosen.request_id, "", took)

    def _refuse(self, chosen: ModelSwitch, old: ModelSpec, error: BaseException) -> None:
        METRICS.model_switches.labels(self.key, "failed").inc()
        why = reason(error)
        log.error(
            "%s: model %r did not load, %s serves on: %s", self.key, chosen.model, old.label, why
        )
        self._report(ModelState.FAILED, old.label, chosen.model, chosen.request_id, why)

    # --- reports ---------------------------------------------------------------------------

    def _report(
        self,
        state: ModelState,
        label: str,
        requested: str,
        request_id: str,
        why: str = "",
        took: float = 0.0,
    ) -> None:
        self._report_event(
            serving_event(self.worker, self.key, label, state, requested, request_id, why, took)
        )

    def _report_event(self, event: ModelServing) -> None:
        self._last = event
        self._pending.append(event)

    async def _publish_pending(self) -> None:
        while self._pending:
            event = self._pending.pop(0)
            try:
                await self.stage.publish(Outgoing(STATUS_TOPIC, event))
            except Exception as exc:  # a report lost is not worth stopping the stage for
                log.warning("%s: could not publish its model state: %s", self.key, exc)

    async def _forget(self) -> None:
        """On a clean stop: the worker's entry is deleted (a tombstone), so `models list`
        shows only running workers."""
        platform = self.stage.platform
        topic = platform.registry.name(STATUS_TOPIC)
        key = f"{self.worker}/{self.key}".encode()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(platform.send(topic, key, None), 2.0)
        if self._reader is not None:  # on its thread: a poll may still be running there
            self._thread.submit(self._reader.close)
        self._thread.shutdown(wait=False)

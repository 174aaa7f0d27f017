"""A worker process: the Faust apps of one or more stages, started together in one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import faust
import mode

from streams import faust_fixes
from streams.app import create_app
from streams.settings import KaptionSettings
from streams.stage import Platform, Stage

Register = Callable[[Stage], None]


class StageApps(mode.Service):
    """Starts the process's platform, then every stage's app at once: each joins its own
    consumer group, and joins run side by side rather than one after another (Tansu completes
    a join only after half the session timeout)."""

    def __init__(self, platform: Platform, apps: Sequence[faust.App]) -> None:
        super().__init__()
        self.platform = platform
        self.apps = list(apps)

    async def on_start(self) -> None:
        await self.platform.start()
        for app in self.apps:
            app.in_worker = True
        await asyncio.gather(*(app.start() for app in self.apps))

    async def on_stop(self) -> None:
        await asyncio.gather(*(app.stop() for app in self.apps), return_exceptions=True)
        await self.platform.stop()


def build_stages(
    settings: KaptionSettings, stages: Sequence[str], register: Callable[[str], Register]
) -> StageApps:
    platform = Platform.from_settings(settings)
    apps = []
    for name in stages:
        app = create_app(settings, name)
        register(name)(Stage(name, app, platform))
        apps.append(app)
    return StageApps(platform, apps)


def run_worker(
    settings: KaptionSettings, stages: Sequence[str], register: Callable[[str], Register]
) -> None:
    """Blocks running the stages' agents until SIGINT/SIGTERM (``register`` gives each
    stage's registration function)."""
    faust_fixes.apply(settings.fetch_max_wait_ms)
    service = build_stages(settings, stages, register)
    worker = mode.Worker(service, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()

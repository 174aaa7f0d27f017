"""What the API's job routes share for the life of the app: settings, the job view and its
reader, the publisher and the webhook sender (started and stopped by the app's lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from clients.api.config import ApiSettings
from clients.api.publish import JobPublisher
from clients.api.view import JobBoard, ViewReader
from clients.api.webhooks import Webhooks
from streams.settings import KaptionSettings
from streams.sources import SourcePolicy


@dataclass
class JobsRuntime:
    """What the job routes share: settings, the view and its reader, the publisher, webhooks."""

    settings: KaptionSettings
    api: ApiSettings
    policy: SourcePolicy
    board: JobBoard
    reader: ViewReader
    webhooks: Webhooks
    publisher: JobPublisher | None = None

    @classmethod
    def create(cls, settings: KaptionSettings, api: ApiSettings) -> JobsRuntime:
        policy = SourcePolicy.from_settings(settings)
        board = JobBoard(settings.media_root)
        webhooks = Webhooks(board, api.webhook_secret, policy)
        return cls(settings, api, policy, board, ViewReader(settings, board), webhooks)

    def start(self) -> None:
        self.publisher = JobPublisher(self.settings)
        self.reader.start()
        self.webhooks.start()

    def stop(self) -> None:
        self.webhooks.stop()
        self.reader.stop()
        if self.publisher is not None:
            self.publisher.close()

    @property
    def media_root(self) -> Path:
        assert self.settings.media_root is not None  # api_settings_checked sets one
        return self.settings.media_root


def runtime_of(request: Request) -> JobsRuntime:
    runtime: JobsRuntime = request.app.state.jobs
    return runtime

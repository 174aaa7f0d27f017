"""The API's own settings (env prefix ``KAPTION_API_``), beside the platform's KaptionSettings,
and the checks the API makes on both before it serves anything."""

from __future__ import annotations

import logging

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import KaptionSettings

log = logging.getLogger(__name__)
MiB = 1024 * 1024


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAPTION_API_", frozen=True, extra="ignore")

    # Bearer tokens, comma-separated; every endpoint but the health ones needs one of them.
    tokens: str = ""
    # Uploads larger than this are refused (413) while they stream to disk.
    max_upload_mb: int = Field(default=1024, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Signs the job-end webhooks (HMAC-SHA256, clients/api/webhooks.py); empty: requests that
    # ask for a webhook are refused (422), since an unsigned one could be forged by anyone.
    webhook_secret: str = ""

    def token_list(self) -> list[str]:
        return [token.strip() for token in self.tokens.split(",") if token.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MiB


class ApiConfigError(ValueError):
    """The API cannot start with these settings; the message says what to set."""


def api_settings_checked(settings: KaptionSettings, api: ApiSettings) -> KaptionSettings:
    """The platform settings the API runs with: at least one token is required, and a media
    root (uploads go under it, paths must lie in it); without KAPTION_MEDIA_ROOT it is
    <data_dir>/media, created if missing."""
    if not api.token_list():
        raise ApiConfigError(
            "the API needs at least one bearer token: set KAPTION_API_TOKENS=<token>[,<token>...]"
        )
    if settings.media_root is None:
        root = settings.data_dir / "media"
        log.warning("KAPTION_MEDIA_ROOT is not set: uploads and paths use %s", root)
        settings = settings.model_copy(update={"media_root": root})
    assert settings.media_root is not None
    settings.media_root.mkdir(parents=True, exist_ok=True)
    return settings

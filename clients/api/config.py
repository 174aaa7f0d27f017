"""The API's own settings (env prefix ``KAPTION_API_``), beside the platform's KaptionSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAPTION_API_", frozen=True, extra="ignore")

    # Bearer tokens, comma-separated; every endpoint but the health ones needs one of them.
    tokens: str = ""
    # Uploads larger than this are refused (413) while they stream to disk.
    max_upload_mb: int = Field(default=1024, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Signs the job-end webhooks (HMAC-SHA256 of the body); empty: webhooks go unsigned.
    webhook_secret: str = ""

    def token_list(self) -> list[str]:
        return [token.strip() for token in self.tokens.split(",") if token.strip()]

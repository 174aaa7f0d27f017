"""Bearer-token authentication: every endpoint but the health ones depends on require_token."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clients.api.config import ApiSettings

bearer = HTTPBearer(auto_error=False, description="One of KAPTION_API_TOKENS")


def token_matches(given: str, tokens: list[str]) -> bool:
    """Constant time per token, and every token compared, so timing tells nothing."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    api: ApiSettings = request.app.state.api
    if credentials is None or not token_matches(credentials.credentials, api.token_list()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )

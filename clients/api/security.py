"""Bearer-token authentication. Every ``/v1`` request is checked by :class:`TokenGate` before
any routing or body parsing (so a request without a token learns nothing, not even whether its
body would be valid, and an upload without one is never read); the routers also depend on
:func:`require_token`, which is what the OpenAPI document shows."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from clients.api.config import ApiSettings

bearer = HTTPBearer(auto_error=False, description="One of KAPTION_API_TOKENS")
UNAUTHORIZED = "a valid bearer token is required"
PROTECTED = "/v1/"


def token_matches(given: str, tokens: list[str]) -> bool:
    """Constant time per token, and every token compared, so timing tells nothing."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    api: ApiSettings = request.app.state.api
    if credentials is None or not token_matches(credentials.credentials, api.token_list()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
        )


class TokenGate:
    """ASGI middleware: a ``/v1`` request without a valid token gets a 401 at once."""

    def __init__(self, app: ASGIApp, tokens: list[str]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(PROTECTED):
            token = bearer_token(Headers(scope=scope).get("authorization"))
            if token is None or not token_matches(token, self.tokens):
                refused = JSONResponse(
                    {"detail": UNAUTHORIZED},
                    status.HTTP_401_UNAUTHORIZED,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)

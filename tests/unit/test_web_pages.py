"""The web page's routes and assets, through the ASGI app (no broker): one shell for every page,
a Content-Security-Policy on every answer, only the listed assets, and a script that writes
data into the page as text only."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clients.web import pages

APP_JS = (pages.STATIC / "app.js").read_text()
# The script without its comments, which may name what the code must not do.
APP_CODE = re.sub(r"^\s*//.*$|\s//\s.*$", "", APP_JS, flags=re.MULTILINE)


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/", "/jobs/0123abcd", "/streams/talk-1"])
def test_every_page_is_the_shell_with_a_strict_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js" defer></script>' in response.text
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'"
    assert "blob:" in policy["media-src"] and policy["connect-src"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("app.js", "text/javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")],
)
def test_assets_are_served_with_their_types(client: TestClient, name: str, kind: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("name", ["index.html", "../pages.py", "..%2Fpages.py", "__init__.py"])
def test_nothing_else_in_the_package_is_served(client: TestClient, name: str) -> None:
    assert client.get(f"/static/{name}").status_code == 404


def test_the_shell_loads_nothing_from_elsewhere_and_has_no_inline_script() -> None:
    html = (pages.STATIC / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']
    tags = " ".join(re.findall(r"<[^>]+>", html))
    assert not re.search(r"\son[a-z]+\s*=", tags), "inline handlers break under script-src 'self'"
    # The token field has no name: no form submission, whatever happens, can carry it.
    token_input = re.search(r'<input id="token"[^>]*>', html)
    assert token_input is not None and "name=" not in token_input.group(0)


def test_the_script_never_writes_markup_or_puts_the_token_in_a_url() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in APP_CODE, sink
    assert "EventSource" not in APP_CODE
    # Wherever the token's value is used, it becomes an Authorization header, nothing else.
    uses = [line.strip() for line in APP_CODE.splitlines() if "token()" in line]
    values = [line for line in uses if "function token()" not in line and "!token()" not in line]
    assert values and all("`Bearer ${token()}`" in line for line in values), values

"""The layout's one-way imports: clients → platform (streams) ← stages (agents), and stages
never import each other. Stages are loaded by name (streams/runtime/roles.py), never imported by
the platform."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.paths import REPO

PACKAGES = ("clients", "streams", "agents")


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at any depth (functions, TYPE_CHECKING blocks too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def wrong_way(importer: str, imported: str) -> bool:
    """Whether module ``importer`` (dotted) may not import ``imported``."""
    top, *rest = importer.split(".")
    target = imported.split(".")
    if target[0] not in PACKAGES or (target[0] == top and top != "agents"):
        return False
    if top == "streams":  # the platform knows neither its clients nor its stages
        return True
    if top == "clients":
        return target[0] == "agents"
    # A stage: the platform and itself only.
    if target[0] == "clients":
        return True
    return target[0] == "agents" and (len(target) < 2 or not rest or target[1] != rest[0])


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def test_the_rule_catches_each_wrong_way() -> None:
    assert wrong_way("streams.operations.autoscale", "agents.transcribe.agent")
    assert wrong_way("streams.runtime.worker", "clients.jobs")
    assert wrong_way("clients.cli", "agents.live.agent")
    assert wrong_way("agents.live.agent", "agents.cues.live_order")
    assert wrong_way("agents.cues.agent", "clients.status")
    assert not wrong_way("agents.cues.agent", "agents.cues.model")
    assert not wrong_way("clients.cli", "streams.settings")
    assert not wrong_way("agents.vad.agent", "streams.events.audio")


def test_imports_go_one_way() -> None:
    found = [
        f"{module_name(path)} imports {imported}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for imported in imports(path)
        if wrong_way(module_name(path), imported)
    ]
    assert found == []

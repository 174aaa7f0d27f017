"""Readiness of the API: the broker answers, every kaption topic exists, the job view has
read its topics to the end once."""

from __future__ import annotations

from clients.api.view import ViewReader
from streams.broker.admin import BrokerUnreachable, admin_client, topic_partitions
from streams.broker.topics import load_registry
from streams.runtime.kafka import release_clients
from streams.settings import KaptionSettings

PROBE_S = 3.0


def readiness(settings: KaptionSettings, reader: ViewReader) -> dict[str, str]:
    """Check name → "ok" or what is wrong."""
    checks: dict[str, str] = {}
    try:
        existing = topic_partitions(admin_client(settings), timeout_s=PROBE_S)
    except BrokerUnreachable as exc:
        release_clients(exc)  # else each refused probe keeps its client and threads
        checks["broker"] = f"unreachable ({settings.bootstrap_servers}): {exc}"
        checks["topics"] = "unknown: no broker"
    else:
        checks["broker"] = "ok"
        wanted = load_registry(settings.topics_file, settings.topic_prefix).deployed()
        missing = sorted(set(wanted) - set(existing))
        checks["topics"] = (
            "ok"
            if not missing
            else f"missing ({len(missing)}; `kaption topics apply`): "
            + ", ".join(missing[:5])
            + (" ..." if len(missing) > 5 else "")
        )
    if not reader.thread.is_alive():
        checks["view"] = reader.error or "the job view's reader is not running"
    elif not reader.loaded.is_set():
        checks["view"] = f"loading {reader.error}".strip()
    else:
        checks["view"] = "ok"
    return checks

"""Grafana dashboards (grafana/dashboards.py): committed JSON, data source, metric names, PromQL."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from streams.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
UID = "kaption-prometheus"

# The lag exporter's series (kafka_exporter's names) and prometheus-client's process metrics.
KAFKA_EXPORTER = {
    "kafka_brokers",
    "kafka_topic_partitions",
    "kafka_topic_partition_current_offset",
    "kafka_topic_partition_oldest_offset",
    "kafka_consumergroup_current_offset",
    "kafka_consumergroup_current_offset_sum",
    "kafka_consumergroup_lag",
    "kafka_consumergroup_lag_sum",
    "kafka_consumergroup_members",
}
PROCESS = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
}
# PromQL words that are neither metric names nor followed by "(".
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "info": ("_info",),
    "gauge": ("",),
}


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kaption_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


DASHBOARDS = load()
BOARDS: dict[str, dict[str, Any]] = DASHBOARDS.build()


def kaption_metric_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def process_metric_names() -> set[str]:
    names = set(PROCESS)
    for family in ProcessCollector(registry=None).collect():  # empty where /proc is missing
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (no parser: enough for our queries)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def all_queries() -> list[tuple[str, str, str]]:
    return [
        (name, title, expr)
        for name, board in BOARDS.items()
        for title, expr in DASHBOARDS.panel_queries(board)
    ]


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [panel for panel in found if panel["type"] != "row"]


def test_committed_json_is_what_build_generates() -> None:
    assert set(BOARDS) == {"kaption-pipeline.json", "kaption-worker.json"}
    committed = {p.name for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == set(BOARDS)
    for name, board in BOARDS.items():
        text = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert text == DASHBOARDS.render(board), f"run: python grafana/dashboards.py ({name})"
    assert DASHBOARDS.main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    assert DASHBOARDS.main(["--out", str(tmp_path)]) == 0
    assert DASHBOARDS.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "kaption-worker.json").write_text("{}\n", encoding="utf-8")
    assert DASHBOARDS.main(["--check", "--out", str(tmp_path)]) == 1


def test_dashboards_have_unique_uids_and_panel_ids() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    assert sorted(uids) == ["kaption-pipeline", "kaption-worker"]
    for board in BOARDS.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        assert not board.get("templating", {}).get("list")  # no variables: queries stand alone


def test_every_panel_queries_the_fixed_prometheus_datasource() -> None:
    for name, board in BOARDS.items():
        for panel in panels(board):
            where = f"{name}: {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": UID}, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": UID}, where
                assert target["expr"].strip(), where
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), where


def test_panel_queries_lists_every_target() -> None:
    for board in BOARDS.values():
        expected = sum(len(panel["targets"]) for panel in panels(board))
        assert len(DASHBOARDS.panel_queries(board)) == expected
    nested = {"panels": [{"type": "row", "panels": [{"title": "t", "targets": [{"expr": "up"}]}]}]}
    assert DASHBOARDS.panel_queries(nested) == [("t", "up")]


def test_metric_names_parse() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket{x="y"}[$__rate_interval])))'
        " / on (stage) b or on () vector(0) and c:d"
    ) == {"a_bucket", "b", "c:d"}


def test_every_metric_a_query_uses_exists() -> None:
    known = kaption_metric_names() | KAFKA_EXPORTER | process_metric_names()
    assert {"kaption_stage_events_total", "kaption_stage_queue_seconds_bucket"} <= known
    used = set()
    for name, title, expr in all_queries():
        names = metric_names(expr)
        assert names, f"{name}: {title}: {expr}"
        assert names <= known, f"{name}: {title}: unknown {sorted(names - known)} in {expr}"
        used |= names
    # The dashboards cover the catalogue's main series.
    for metric in (
        "kaption_stage_events_total",
        "kaption_stage_events_published_total",
        "kaption_stage_queue_seconds_bucket",
        "kaption_stage_processing_seconds_bucket",
        "kaption_job_duration_seconds_bucket",
        "kaption_inference_real_time_factor_bucket",
        "kaption_audio_seconds_total",
        "kaption_dead_letters_total",
        "kaption_retries_total",
        "kaption_jobs",
        "kaption_live_caption_latency_seconds_bucket",
        "kaption_ready",
        "kaption_batch_size_bucket",
        "kaption_model_load_seconds",
        "kafka_consumergroup_lag_sum",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert metric in used, metric


def test_ranges_use_rate_interval_and_brackets_balance() -> None:
    for name, title, expr in all_queries():
        where = f"{name}: {title}: {expr}"
        assert re.findall(r"\[([^\]]*)\]", expr) == ["$__rate_interval"] * expr.count("["), where
        for opening, closing in ("()", "{}", "[]"):
            depth = 0
            for char in re.sub(r'"(?:[^"\\]|\\.)*"', "", expr):
                depth += (char == opening) - (char == closing)
                assert depth >= 0, where
            assert depth == 0, where


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_parses_every_query(tmp_path: Path) -> None:
    queries = all_queries()
    rules = [
        {"record": f"kaption:check:{index}", "expr": expr.replace("$__rate_interval", "1m")}
        for index, (_, _, expr) in enumerate(queries)
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == UID
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/kaption.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/kaption"


def test_prometheus_scrape_config() -> None:
    config = yaml.safe_load((ROOT / "docker/prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "15s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"kaption", "kaption-exporter"}
    targets = {
        name: [t for static in job.get("static_configs", []) for t in static["targets"]]
        for name, job in jobs.items()
    }
    # Every worker replica by Docker's DNS, on the port `kaption worker --metrics-port` serves.
    [workers] = jobs["kaption"]["dns_sd_configs"]
    assert workers["port"] == 9400 and "transcribe" in workers["names"]
    assert targets["kaption-exporter"] == ["exporter:9308"]
    if shutil.which("promtool"):
        result = subprocess.run(
            ["promtool", "check", "config", str(ROOT / "docker/prometheus.yml")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

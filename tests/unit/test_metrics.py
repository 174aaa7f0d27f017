"""The metric catalogue: each metric once, named by Prometheus practice and ours."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics import MetricWrapperBase

from streams.runtime.metrics import METRICS, Metrics

ID_LABELS = {"job", "job_id", "segment", "segment_id", "stream", "stream_id", "id"}
UNITS = ("_seconds", "_bytes", "_total", "_info", "_factor", "_size", "_ready")


def catalogue() -> list[MetricWrapperBase]:
    return [m for m in vars(METRICS).values() if isinstance(m, MetricWrapperBase)]


def test_each_metric_is_registered_once() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(registry)
    names = [family.name for family in registry.collect()]
    assert len(names) == len(set(names)) == len(catalogue())


@pytest.mark.parametrize("metric", catalogue(), ids=lambda m: m._name)
def test_names_follow_prometheus_practice(metric: MetricWrapperBase) -> None:
    name = metric._name
    assert re.fullmatch(r"kaption_[a-z][a-z0-9_]*", name), name
    assert not ID_LABELS & set(metric._labelnames), (name, metric._labelnames)
    family = next(iter(metric.describe()))
    exposed = name + ("_total" if family.type == "counter" else "")
    exposed += "_info" if family.type == "info" else ""
    if family.type in ("counter", "info") or "_seconds" in name or name.endswith("_bytes"):
        assert exposed.endswith(UNITS), exposed
    if "seconds" in name:
        assert not re.search(r"_(ms|milliseconds|minutes|hours)\b", name)


def test_time_histograms_reach_minutes() -> None:
    for metric in catalogue():
        if isinstance(metric, Histogram) and metric._name.endswith("_seconds"):
            finite = [b for b in metric._upper_bounds if b != float("inf")]
            assert max(finite) >= 20, metric._name  # live latency tops at 20 s
            if "live" not in metric._name:
                assert max(finite) >= 300, metric._name

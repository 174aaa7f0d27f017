"""The lag exporter's pure pieces: offsets into kafka_exporter's metric families, filters, and
the scrape that fails without raising (no broker: nothing listens on 127.0.0.1:1)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from streams.operations.exporter import (
    KAFKA_EXPORTER_METRICS,
    SCRAPE_SECONDS,
    SCRAPE_SUCCESS,
    ClusterOffsets,
    LagCollector,
    default_filter,
    exporter_registry,
    matching,
    metric_families,
    scrape_families,
)
from streams.runtime.metrics import Metrics
from streams.settings import KaptionSettings

# kafka_exporter's names and labels (github.com/danielqsj/kafka_exporter), the ones we export.
KAFKA_EXPORTER = {
    "kafka_brokers": set(),
    "kafka_topic_partitions": {"topic"},
    "kafka_topic_partition_current_offset": {"topic", "partition"},
    "kafka_topic_partition_oldest_offset": {"topic", "partition"},
    "kafka_consumergroup_current_offset": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_current_offset_sum": {"consumergroup", "topic"},
    "kafka_consumergroup_lag": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_lag_sum": {"consumergroup", "topic"},
    "kafka_consumergroup_members": {"consumergroup"},
}

OFFSETS = ClusterOffsets(
    brokers=1,
    partitions={"p.segments": 3, "p.jobs": 1},
    oldest={("p.segments", 0): 0, ("p.segments", 1): 2, ("p.segments", 2): 0, ("p.jobs", 0): 0},
    end={("p.segments", 0): 7, ("p.segments", 1): 4, ("p.segments", 2): 5, ("p.jobs", 0): 9},
    members={"p.transcribe": 2, "p.cues": 0},
    committed={
        # partition 2 never committed; partition 1 committed past the (Tansu-short) end
        "p.transcribe": {("p.segments", 0): 3, ("p.segments", 1): 6},
        # a topic that is not among the exported ones (filtered out, or deleted)
        "p.cues": {("other.topic", 0): 5},
    },
)


def samples(families: list[Metric]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in families:
        series = found.setdefault(family.name, {})
        for sample in family.samples:
            series[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_names_and_labels_are_kafka_exporters() -> None:
    families = metric_families(OFFSETS)
    assert {family.name for family in families} == set(KAFKA_EXPORTER)
    assert {name: set(labels) for name, (_, labels) in KAFKA_EXPORTER_METRICS.items()} == (
        KAFKA_EXPORTER
    )
    for family in families:
        assert family.type == "gauge"
        for sample in family.samples:
            assert sample.name == family.name
            assert set(sample.labels) == KAFKA_EXPORTER[family.name], family.name


def test_topic_series() -> None:
    found = samples(metric_families(OFFSETS))
    assert found["kafka_brokers"] == {(): 1}
    assert found["kafka_topic_partitions"] == {
        (("topic", "p.segments"),): 3,
        (("topic", "p.jobs"),): 1,
    }
    current = found["kafka_topic_partition_current_offset"]
    assert current[(("partition", "2"), ("topic", "p.segments"))] == 5
    assert sum(current.values()) == 7 + 4 + 5 + 9
    assert sum(found["kafka_topic_partition_oldest_offset"].values()) == 2


def test_group_series_cover_committed_partitions_only_and_lag_is_never_negative() -> None:
    found = samples(metric_families(OFFSETS))
    group = (("consumergroup", "p.transcribe"),)
    segments = (("topic", "p.segments"),)
    assert found["kafka_consumergroup_current_offset"] == {
        (*group, ("partition", "0"), *segments): 3,
        (*group, ("partition", "1"), *segments): 6,
    }
    assert found["kafka_consumergroup_lag"] == {
        (*group, ("partition", "0"), *segments): 4,  # 7 - 3
        (*group, ("partition", "1"), *segments): 0,  # 4 - 6, clamped
    }
    assert found["kafka_consumergroup_current_offset_sum"] == {(*group, *segments): 9}
    assert found["kafka_consumergroup_lag_sum"] == {(*group, *segments): 4}
    assert found["kafka_consumergroup_members"] == {
        group: 2,
        (("consumergroup", "p.cues"),): 0,
    }


def test_a_group_without_commits_on_a_topic_has_no_series_for_it() -> None:
    offsets = ClusterOffsets(1, {"p.a": 2}, {}, {("p.a", 0): 5, ("p.a", 1): 0}, {"p.g": 1}, {})
    found = samples(metric_families(offsets))
    for name in KAFKA_EXPORTER:
        if name.startswith("kafka_consumergroup_") and name != "kafka_consumergroup_members":
            assert found[name] == {}, name


def test_the_exposition_parses() -> None:
    class Fixed:
        def collect(self) -> list[Metric]:
            return [*metric_families(OFFSETS), *scrape_families(True, 0.25)]

    registry = CollectorRegistry()
    registry.register(Fixed())
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    lag = parsed["kafka_consumergroup_lag_sum"].samples
    assert [(s.labels, s.value) for s in lag] == [
        ({"consumergroup": "p.transcribe", "topic": "p.segments"}, 4.0)
    ]
    assert parsed[SCRAPE_SUCCESS].samples[0].value == 1
    assert parsed[SCRAPE_SECONDS].samples[0].value == 0.25


def test_filters_default_to_the_prefix_and_match_like_go() -> None:
    names = ["kaption.segments", "kaptionXsegments", "other.kaption.segments", "kaption.cues"]
    assert matching(names, default_filter("kaption.")) == ["kaption.cues", "kaption.segments"]
    assert matching(names, "segments") == [  # anywhere in the name, as Go's MatchString
        "kaption.segments",
        "kaptionXsegments",
        "other.kaption.segments",
    ]
    assert matching(names, ".*") == sorted(names)


def unreachable(tmp_path: Path) -> LagCollector:
    settings = KaptionSettings(
        bootstrap_servers="127.0.0.1:1", topic_prefix="u.", data_dir=tmp_path
    )
    return LagCollector(settings, timeout_s=0.5)


def test_no_name_collides_with_kaptions_catalogue(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    registry.register(unreachable(tmp_path))  # raises ValueError on a duplicated name
    own = CollectorRegistry()
    Metrics(own)
    catalogue = {family.name for family in own.collect()}
    assert catalogue
    assert not catalogue & (set(KAFKA_EXPORTER) | {SCRAPE_SUCCESS, SCRAPE_SECONDS})


def test_an_unreachable_broker_is_a_failed_scrape_not_an_error(tmp_path: Path) -> None:
    collector = unreachable(tmp_path)
    registry = exporter_registry(collector)
    start = time.monotonic()
    found = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert time.monotonic() - start < 5
    assert set(found) == {SCRAPE_SUCCESS, SCRAPE_SECONDS}
    assert found[SCRAPE_SUCCESS].samples[0].value == 0
    assert collector.ready() is False


def test_a_bad_filter_fails_at_construction(tmp_path: Path) -> None:
    settings = KaptionSettings(bootstrap_servers="127.0.0.1:1", data_dir=tmp_path)
    with pytest.raises(re.error):
        LagCollector(settings, topic_filter="(")

"""The local Apache Kafka's configuration, without starting it: the pinned release, each node's
properties, topic replication."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from streams.broker import local
from streams.broker.topics import Replication, replication
from streams.settings import KAFKA_VERSION
from tests.paths import REPO

POM = REPO / "docker" / "kafka" / "pom.xml"


def test_the_pom_pins_the_release_kaption_looks_for() -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    assert version is not None and version.text == KAFKA_VERSION


def test_a_node_gets_its_own_id_listeners_quorum_and_log_dir(tmp_path: Path) -> None:
    common = local.read_properties(local.SERVER_PROPERTIES)
    assert common["group.initial.rebalance.delay.ms"] == "0"
    assert common["offsets.topic.num.partitions"] == "1"
    node = local.NodeSpec(2, 19092, 19093, tmp_path / "node-2")
    one = local.node_properties(common, node, "2@127.0.0.1:19093", nodes=1)
    assert one["node.id"] == "2"
    assert one["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert one["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert one["log.dirs"] == str(tmp_path / "node-2" / "data")
    assert one["offsets.topic.replication.factor"] == "1"
    assert one["transaction.state.log.min.isr"] == "1"
    three = local.node_properties(common, node, "1@a:1,2@b:2,3@c:3", nodes=3)
    assert three["offsets.topic.replication.factor"] == "3"
    assert three["transaction.state.log.min.isr"] == "2"
    assert three["controller.quorum.voters"] == "1@a:1,2@b:2,3@c:3"
    proxied = local.NodeSpec(1, 19092, 19093, tmp_path, advertised_port=29092)
    advertised = local.node_properties(common, proxied, "1@127.0.0.1:19093", 1)
    assert advertised["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"


def test_properties_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    local.write_properties(path, {"a.b": "1", "c": "x=y"})
    assert local.read_properties(path) == {"a.b": "1", "c": "x=y"}


def test_a_cluster_id_is_22_characters_of_url_safe_base64() -> None:
    ids = {local.cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and set(i) <= set(ALPHABET) for i in ids)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_no_cluster_id_starts_with_a_dash() -> None:
    """StorageTool read such an id (1 in 64) as an option and the node was never formatted."""
    assert not [i for i in (local.cluster_id() for _ in range(2000)) if i.startswith("-")]


def test_missing_kafka_says_what_is_missing(tmp_path: Path) -> None:
    reason = local.missing(tmp_path)
    assert reason is not None and "no Apache Kafka jars" in reason and "make kafka" in reason


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync", "expected"),
    [
        (1, None, None, Replication(1, None)),
        (2, None, None, Replication(2, None)),
        (3, None, None, Replication(3, 2)),
        (5, None, None, Replication(3, 2)),
        (3, 2, None, Replication(2, None)),
        (3, 3, 3, Replication(3, 3)),
    ],
)
def test_replication_is_min_3_brokers_with_2_in_sync(
    brokers: int, factor: int | None, min_insync: int | None, expected: Replication
) -> None:
    assert replication(brokers, factor, min_insync) == expected


def test_impossible_replication_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 3 brokers"):
        replication(1, 3)
    with pytest.raises(ValueError, match="exceeds the replication factor"):
        replication(3, 2, 3)

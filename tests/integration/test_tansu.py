"""The Tansu fallback's smoke lane: where Apache Kafka cannot run (no Java 17+ or no jars),
`kaption run` says so in one line and captions the sample on Tansu, its workarounds applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.subtitles.render import parse_cues
from tests.integration.test_cli import kaption
from tests.paths import SAMPLES

pytestmark = pytest.mark.integration


def test_run_falls_back_to_tansu_without_the_kafka_jars(tmp_path: Path) -> None:
    no_jars = {"KAPTION_KAFKA_HOME": str(tmp_path / "no-kafka")}
    done = kaption("run", str(SAMPLES / "demo.mp4"), "--out", "out", cwd=tmp_path, env=no_jars)
    assert done.returncode == 0, done.stderr
    fallback = [line for line in done.stderr.splitlines() if "Tansu" in line]
    assert len(fallback) == 1, done.stderr
    assert "no Apache Kafka jars" in fallback[0] and "no retention" in fallback[0]
    assert "COMPLETED" in done.stderr
    assert parse_cues((tmp_path / "out" / "demo.srt").read_text(), "srt")


def test_asking_for_kafka_where_it_cannot_run_is_one_clear_error(tmp_path: Path) -> None:
    env = {"KAPTION_KAFKA_HOME": str(tmp_path / "no-kafka"), "KAPTION_BROKER_KIND": "kafka"}
    done = kaption("run", str(SAMPLES / "demo.mp4"), cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 1
    assert "Error: cannot start Apache Kafka: no Apache Kafka jars" in done.stderr
    assert "Traceback" not in done.stderr

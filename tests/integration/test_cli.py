"""The `kaption` command line as a user runs it, from a directory that is not the checkout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from agents.subtitles.render import parse_cues
from streams.runtime.kafka import librdkafka_config
from streams.runtime.processes import free_port, settings_env
from streams.settings import KaptionSettings
from tests.integration.conftest import Cluster, create_topics, fresh_settings
from tests.paths import MEDIA, SAMPLES
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
# The Apache Kafka jars `make kafka` put in this user's cache (HOME is a fresh folder here).
KAFKA_JARS = {"KAPTION_KAFKA_HOME": str(KaptionSettings().kafka_home)}


def kaption(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **KAFKA_JARS, **(env or {})},
        check=False,
        cwd=cwd,
    )


def test_run_writes_srt_and_vtt_for_the_sample_video(tmp_path: Path) -> None:
    """`kaption run` on its own: a local Apache Kafka broker, topics, all stages, one job, two
    files; its state goes to the user's state directory, which does not exist yet."""
    done = kaption("run", str(SAMPLES / "demo.mp4"), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Tansu" not in done.stderr  # Apache Kafka ran
    srt, vtt = tmp_path / "out" / "demo.srt", tmp_path / "out" / "demo.vtt"
    assert done.stdout.split() == ["out/demo.srt", "out/demo.vtt"]
    assert "COMPLETED" in done.stderr
    assert (tmp_path / ".local" / "state" / "kaption" / "worker.log").exists()
    cues = parse_cues(srt.read_text(), "srt")
    assert cues == parse_cues(vtt.read_text(), "vtt")
    reference = (SAMPLES / "demo.txt").read_text()
    # Measured 0.143 (bare faster-whisper gives the same text); see test_pipeline for why 0.35.
    assert word_error_rate(reference, " ".join(c.text for c in cues)) < 0.35


def test_live_captions_a_stream_into_rolling_files_and_reports_latency(tmp_path: Path) -> None:
    """`kaption live` on its own: embedded broker, topics, the live workers, a file streamed
    at playback speed; the rolling and final files (in Spanish too, with --translate es), and
    the latency figures on exit."""
    import m3u8

    done = kaption(
        "live", str(MEDIA / "speech.mp4"), "--out", "live", "--name", "talk", "--translate", "es",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("caption latency, first appearance: p50") for line in lines)
    assert any(line.startswith("caption latency, final: p50") for line in lines)
    assert any(line.startswith("caption latency, translated es: p50") for line in lines)
    out = tmp_path / "live"
    assert [line for line in lines if line.startswith("wrote")] == [
        f"wrote {out / name}{suffix}"
        for name in ("talk", "talk.es")
        for suffix in (".srt", ".vtt", ".m3u8")
    ]
    cues = parse_cues((out / "talk.srt").read_text(), "srt")
    assert cues == parse_cues((out / "talk.vtt").read_text(), "vtt")
    reference = json.loads((MEDIA / "speech.json").read_text())["text"]
    assert word_error_rate(reference, " ".join(c.text for c in cues)) < 0.35
    playlist = m3u8.load(str(out / "talk.m3u8"))
    assert playlist.is_endlist and all((out / s.uri).exists() for s in playlist.segments)
    unusable = kaption("live", "nope://stream", "--out", "live", cwd=tmp_path, timeout=180)
    assert unusable.returncode == 1 and "protocol not found" in unusable.stderr


def test_run_reports_bad_input_and_exits_non_zero(tmp_path: Path) -> None:
    done = kaption("run", str(MEDIA / "empty.mp4"), "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert "FAILED" in done.stderr and "decode: file is empty" in done.stderr
    assert not (tmp_path / "out").exists()
    missing = kaption("run", str(MEDIA / "nope.mp4"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_submit_waits_and_writes_files(cluster: Cluster, tmp_path: Path) -> None:
    env = settings_env(cluster.settings)
    done = kaption("submit", str(MEDIA / "speech.webm"), "--out", "subs", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "subs").iterdir()) == ["speech.srt", "speech.vtt"]
    failed = kaption("submit", str(MEDIA / "video_only.mp4"), cwd=tmp_path, env=env)
    assert failed.returncode == 1 and "decode: no audio track" in failed.stderr
    job_id = kaption("submit", str(MEDIA / "speech.wav"), "--no-wait", cwd=tmp_path, env=env)
    assert job_id.returncode == 0 and len(job_id.stdout.strip()) == 32


def test_status_lists_jobs_as_a_table_or_json(cluster: Cluster, tmp_path: Path) -> None:
    env = settings_env(cluster.settings)
    submitted = kaption("submit", str(MEDIA / "speech.mp3"), "--no-wait", cwd=tmp_path, env=env)
    job_id = submitted.stdout.strip()
    deadline = time.monotonic() + 120
    while True:
        one = kaption("status", job_id, "--json", cwd=tmp_path, env=env, timeout=60)
        assert one.returncode == 0, one.stderr
        (row,) = json.loads(one.stdout)
        if row["state"] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert row["job"] == job_id and row["name"] == "speech" and row["state"] == "COMPLETED"
    assert row["progress"] == "1/1" and row["age_s"] >= 0
    table = kaption("status", cwd=tmp_path, env=env, timeout=60)
    lines = table.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["job", "name", "state"]
    assert any(line.startswith(job_id + "\t") for line in lines[1:])
    unknown = kaption("status", "no-such-job", cwd=tmp_path, env=env, timeout=60)
    assert unknown.returncode == 1 and "no job no-such-job" in unknown.stderr


def test_lag_shows_every_stage_group(cluster: Cluster, tmp_path: Path) -> None:
    env = settings_env(cluster.settings)
    done = kaption("lag", cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    prefix = cluster.settings.topic_prefix
    for stage in ("orchestrator", "decode", "vad", "transcribe", "cues", "subtitles"):
        assert f"{prefix}{stage}" in done.stdout


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    done = kaption("submit", str(MEDIA / "speech.wav"), cwd=tmp_path)
    assert done.returncode == 2 and "no broker" in done.stderr
    bogus = kaption("worker", "--role", "bogus", "--bootstrap-servers", "b:1", cwd=tmp_path)
    assert bogus.returncode == 2 and "'bogus' is not one of" in bogus.stderr
    assert "Traceback" not in bogus.stderr


def test_a_worker_starts_in_any_directory(bootstrap: str, tmp_path: Path) -> None:
    """No state directory, a read-only working directory: the worker still joins and works."""
    settings = fresh_settings(bootstrap, tmp_path / "state" / "does" / "not" / "exist")
    create_topics(settings)
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    env = {**settings_env(settings), "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "worker", "--role", "decode"],
        cwd=readonly,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(8)
        assert worker.poll() is None, worker.communicate()[0].decode()[-3000:]
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output[-3000:]


def test_topics_apply_is_idempotent_and_reports_drift(bootstrap: str, tmp_path: Path) -> None:
    settings = fresh_settings(bootstrap, tmp_path)
    env = settings_env(settings)
    first = kaption("topics", "apply", cwd=tmp_path, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    header, *lines = first.stdout.splitlines()
    assert header == "replication factor 1, min.insync.replicas broker default"  # one broker
    assert all(line.startswith("created ") for line in lines) and len(lines) > 10
    assert f"created   {settings.topic_prefix}orchestrator.jobs\n" in first.stdout
    second = kaption("topics", "apply", cwd=tmp_path, env=env, timeout=60)
    assert second.returncode == 0 and "created" not in second.stdout
    assert second.stdout.count("ok ") == first.stdout.count("created")

    drifted = fresh_settings(bootstrap, tmp_path)
    admin = AdminClient(librdkafka_config(drifted))
    topic = f"{drifted.topic_prefix}segments"
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result()
    third = kaption("topics", "apply", cwd=tmp_path, env=settings_env(drifted))
    assert third.returncode == 3
    assert f"DRIFT     {topic}: partitions 2 != 8" in third.stdout


def test_an_unreachable_broker_is_one_clear_error(tmp_path: Path) -> None:
    # Nothing listens on 127.0.0.1:1; the user gets a message, not a traceback (submit retries
    # for KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S first: test_client_messages.py).
    env = {"KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S": "5"}
    for args in (("submit", str(MEDIA / "speech.wav")), ("topics", "apply"), ("lag",)):
        done = kaption(
            *args, "--bootstrap-servers", "127.0.0.1:1", cwd=tmp_path, env=env, timeout=60
        )
        assert done.returncode == 1, (args, done.stderr)
        assert "Error: cannot reach Kafka" in done.stderr and "Traceback" not in done.stderr


def test_broker_runs_a_three_node_cluster_that_run_reuses_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """`kaption broker --nodes 3`: three KRaft nodes on loopback, their bootstrap list printed;
    topics get 3 copies with 2 in sync; `kaption run` reuses the running broker; SIGTERM stops
    every node cleanly."""
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **KAFKA_JARS}
    broker = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "broker", "--nodes", "3", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert broker.stdout is not None
        lines = [broker.stdout.readline() for _ in range(2)]
        addresses = ",".join(f"127.0.0.1:{port + n}" for n in range(3))
        assert lines[1].strip() == f"export KAFKA_BOOTSTRAP_SERVERS={addresses}", lines
        applied = kaption(
            "topics", "apply", cwd=tmp_path, env={"KAFKA_BOOTSTRAP_SERVERS": addresses}
        )
        assert applied.stdout.startswith("replication factor 3, min.insync.replicas 2\n")
        done = kaption("run", str(SAMPLES / "demo.mp4"), "--out", "out", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"using the local kafka broker at {addresses}" in done.stderr
        broker.send_signal(signal.SIGTERM)
        output, _ = broker.communicate(timeout=90)
        assert broker.returncode == 0, output
    finally:
        broker.kill()
    state = tmp_path / ".local" / "state" / "kaption" / "broker"
    assert not (state / "address").exists()  # no longer announced
    clean = []
    for node in (1, 2, 3):
        log = (state / "3-node" / f"node-{node}" / "server.log").read_text()
        if f"[BrokerServer id={node}] shut down completed" in log:
            clean.append(node)
        else:  # only a node left without its controller quorum may be killed, and it is said
            assert f"Kafka node {node} could not finish its controlled shutdown" in output, log[
                -2000:
            ]
    assert len(clean) >= 2, (clean, output)

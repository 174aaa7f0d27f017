"""kaption as a user installs it: a wheel built from the checkout, in a fresh virtualenv, run
from a directory that has nothing of the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.subtitles.render import parse_cues
from streams.settings import KaptionSettings
from tests.paths import REPO, SAMPLES
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
KAFKA_HOME = KaptionSettings().kafka_home


def run(*command: str | Path, cwd: Path, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        # HOME is a fresh folder: the Apache Kafka jars `make kafka` cached are named instead.
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "KAPTION_KAFKA_HOME": str(KAFKA_HOME)},
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def test_a_wheel_in_a_fresh_virtualenv_runs_a_job_from_anywhere(tmp_path: Path) -> None:
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    run(sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "-q", "-w", dist, cwd=tmp_path)
    (wheel,) = dist.glob("kaption-*.whl")
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    # Dependencies come from the index as for any user (pip's cache keeps this quick in CI).
    run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)

    # The package carries its schemas and topics, and declares every dependency with bounds.
    check = (
        "import importlib.metadata as m, streams.resources as r\n"
        "assert 'site-packages' in str(r.TOPICS_FILE) and r.TOPICS_FILE.exists(), r.TOPICS_FILE\n"
        "assert len(list(r.SCHEMAS_DIR.glob('*.avsc'))) >= 10\n"
        "import streams.broker.local as k\n"
        "assert 'site-packages' in str(k.SERVER_PROPERTIES) and k.SERVER_PROPERTIES.exists()\n"
        "assert k.LOG4J_PROPERTIES.exists()\n"
        "requires = [q for q in m.requires('kaption') if 'extra ==' not in q]\n"
        "assert all('<' in q for q in requires), requires\n"
        "print(len(requires))\n"
    )
    assert int(run(venv / "bin" / "python", "-c", check, cwd=elsewhere).split()[-1]) > 10

    output = run(venv / "bin" / "kaption", "run", SAMPLES / "demo.mp4", "--out", "o", cwd=elsewhere)
    assert "COMPLETED" in output and "Tansu" not in output  # on Apache Kafka
    cues = parse_cues((elsewhere / "o" / "demo.srt").read_text(), "srt")
    text = " ".join(cue.text for cue in cues)
    assert word_error_rate((SAMPLES / "demo.txt").read_text(), text) < 0.35

"""The decode stage checks every job's source before opening it (streams/sources.py): a URL to a
loopback address or a path outside KAPTION_MEDIA_ROOT fails its job with the reason, nothing is
fetched, and the next job runs (real broker, real worker, real model)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from streams.events.model import JobState
from streams.runtime.processes import worker_process
from tests.integration.conftest import Cluster, create_topics, fresh_settings
from tests.paths import MEDIA
from tests.slow_http import media_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rooted(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A `--role all` worker whose media root holds one file, speech.wav; private sources are
    refused (the default)."""
    data_dir = tmp_path_factory.mktemp("kaption")
    root = tmp_path_factory.mktemp("media")
    shutil.copy(MEDIA / "speech.wav", root / "speech.wav")
    settings = fresh_settings(bootstrap, data_dir, media_root=root)
    assert not settings.allow_private_sources
    create_topics(settings)
    log = data_dir / "worker.log"
    with worker_process(settings, "all", log) as process:
        yield Cluster(settings, process, log)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


def test_a_loopback_url_fails_its_job_unfetched_and_the_next_job_runs(rooted: Cluster) -> None:
    with media_server((MEDIA / "speech.mp4").read_bytes()) as server:
        result = rooted.run(server.url, timeout_s=120)
        assert server.requests == 0  # refused before anything connected
    assert result.state == JobState.FAILED
    assert result.status.reason == (
        "decode: '127.0.0.1' resolves to 127.0.0.1, a loopback address: refused "
        "(KAPTION_ALLOW_PRIVATE_SOURCES=1 allows such sources)"
    )
    assert result.subtitles is None
    assert rooted.run("speech.wav", timeout_s=120).state == JobState.COMPLETED  # under the root


def test_a_path_outside_the_media_root_fails_its_job_and_the_next_job_runs(
    rooted: Cluster,
) -> None:
    outside = str(MEDIA / "speech.wav")  # real media, the same bytes: only its place is wrong
    result = rooted.run(outside, timeout_s=120)
    assert result.state == JobState.FAILED
    assert result.status.reason == f"decode: {outside!r} is outside the media root"
    root = rooted.settings.media_root
    assert root is not None
    assert rooted.run(str(root / "speech.wav"), timeout_s=120).state == JobState.COMPLETED

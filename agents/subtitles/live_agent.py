"""subtitles-live: LiveCues -> each stream's files in ``KAPTION_LIVE_OUT_DIR``: the rolling
NAME.vtt, the HLS subtitle playlist NAME.m3u8 with its WebVTT segments, and at the end the
complete NAME.srt and NAME.vtt (agents/subtitles/live.py). NAME is the stream id, made safe as a
file name. Translated finals (live.translated, from translate-live) get the same files as
NAME.<language>.vtt, .m3u8 (segments NAME.<language>-<n>.vtt) and .srt, by the same writer.

The files are the state: each stream's writer records its progress in a sidecar file next to
them, so a restarted worker resumes without losing or repeating a caption.

Replay (``KAPTION_LIVE_REPLAY``, on by default): when a stream whose files it wrote ends, it
asks the file lane for the stream's replay (a JobRequested for ``stream:<id>``; the stream's
audio stays on live.audio), and when that job's SubtitlesReady comes it replaces the stream's
final files with it, keeping the live ones beside them (agents/subtitles/replay.py). This stage
asks because it is the one that knows the files are complete and where they are; the replay's
stages, decode to subtitles, are the file lane's own groups, never the live lane's. Its writes
have a lane of their own, so a long stream's VOD playlist does not hold up live files.
"""

from __future__ import annotations

import logging

from agents.subtitles.live import LiveOutputs
from agents.subtitles.replay import apply_replay
from streams.broker.topics import Outgoing
from streams.events.model import LiveCue, LiveKind, SubtitlesReady
from streams.job_options import translation_name
from streams.operations.live_files import file_name
from streams.operations.replay import is_replay, replay_job_id, replay_request
from streams.runtime.stage import Stage
from streams.sources import UnsafeSource

INPUTS = ("live.cues", "subtitles.ready", "live.translated")

log = logging.getLogger(__name__)


def register(stage: Stage) -> None:
    settings = stage.settings
    out_dir = settings.live_out_dir
    # The streams in progress on this worker, by stream id and language ("": the source's).
    writers: dict[tuple[str, str], LiveOutputs] = {}

    def writer(stream_id: str, language: str) -> LiveOutputs:
        assert out_dir is not None
        if (stream_id, language) not in writers:
            name = file_name(stream_id)
            writers[stream_id, language] = LiveOutputs(
                out_dir,
                translation_name(name, file_name(language)) if language else name,
                settings.live_hls_segment_s,
                settings.live_playlist_window,
            )
        return writers[stream_id, language]

    def write(cue: LiveCue) -> list[Outgoing]:
        if out_dir is None:
            if cue.kind == LiveKind.END and not cue.language:
                log.warning("stream %s: no KAPTION_LIVE_OUT_DIR, no files written", cue.stream_id)
            return []
        files = writer(cue.stream_id, cue.language)
        files.add(cue)
        if cue.kind == LiveKind.END:
            writers.pop((cue.stream_id, cue.language), None)
            log.info(
                "stream %s%s ended (%s): files written in %s",
                cue.stream_id,
                f" in {cue.language}" if cue.language else "",
                cue.reason,
                out_dir,
            )
            return [] if cue.language else replay(cue, files.labelled)
        return []

    def replay(end: LiveCue, speakers: bool) -> list[Outgoing]:
        """The stream's replay request; the same job id for a redelivered end (the
        orchestrator keeps a job id's first request), so a stream is replayed once."""
        if not settings.live_replay or max(end.start, end.end) <= 0:
            return []  # off, or a stream that never brought audio: nothing to replay
        job_id = replay_job_id(end.stream_id, f"{end.published_at!r}")
        try:
            request = replay_request(
                end.stream_id, settings.language, job_id=job_id, speakers=speakers
            )
        except UnsafeSource as exc:
            log.warning("stream %s is not replayed: %s", end.stream_id, exc)
            return []
        log.info("stream %s: replay through the file lane asked (job %s)", end.stream_id, job_id)
        return [Outgoing("jobs.requested", request)]

    async def handle(cue: LiveCue) -> list[Outgoing]:
        # File writes of a few hundred bytes; the segment and playlist rewrites are atomic.
        return await stage.platform.run_in_lane("live-files", write, cue)

    async def translated(cue: LiveCue) -> list[Outgoing]:
        # NAME.<language>.vtt, .m3u8 (+ segments) and .srt, in a lane of their own.
        return await stage.platform.run_in_lane("live-translated-files", write, cue)

    def replace(ready: SubtitlesReady) -> list[Outgoing]:
        assert out_dir is not None
        written = apply_replay(out_dir, ready)
        if written:
            log.info("stream %s: final files replaced by replay %s", ready.name, ready.job_id)
        return []

    async def replayed(ready: SubtitlesReady) -> list[Outgoing]:
        if out_dir is None or not is_replay(ready.job_id):
            return []  # another job's subtitles, or no files here to replace
        return await stage.platform.run_in_lane("replay-files", replace, ready)

    stage.agent(INPUTS[0], handle, on_failure=lambda key, error: [])
    stage.agent(INPUTS[1], replayed, on_failure=lambda key, error: [], name="replay")
    # Translations: an agent of their own, so a language's files never hold the source's up.
    stage.agent(INPUTS[2], translated, on_failure=lambda key, error: [], name="translated")

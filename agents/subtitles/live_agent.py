"""subtitles-live: LiveCues -> each stream's files in ``KAPTION_LIVE_OUT_DIR``: the rolling
NAME.vtt, the HLS subtitle playlist NAME.m3u8 with its WebVTT segments, and at the end the
complete NAME.srt and NAME.vtt (agents/subtitles/live.py). NAME is the stream id, made safe as a
file name.

The files are the state: each stream's writer records its progress in a sidecar file next to
them, so a restarted worker resumes without losing or repeating a caption.
"""

from __future__ import annotations

import logging
import re

from agents.subtitles.live import LiveOutputs
from streams.broker.topics import Outgoing
from streams.events.model import LiveCue, LiveKind
from streams.runtime.stage import Stage

INPUTS = ("live.cues",)

log = logging.getLogger(__name__)


def file_name(stream_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stream_id).strip("-.") or "stream"


def register(stage: Stage) -> None:
    settings = stage.settings
    out_dir = settings.live_out_dir
    writers: dict[str, LiveOutputs] = {}  # the streams in progress on this worker

    def writer(stream_id: str) -> LiveOutputs:
        assert out_dir is not None
        if stream_id not in writers:
            writers[stream_id] = LiveOutputs(
                out_dir,
                file_name(stream_id),
                settings.live_hls_segment_s,
                settings.live_playlist_window,
            )
        return writers[stream_id]

    def write(cue: LiveCue) -> list[Outgoing]:
        if out_dir is None:
            if cue.kind == LiveKind.END:
                log.warning("stream %s: no KAPTION_LIVE_OUT_DIR, no files written", cue.stream_id)
            return []
        writer(cue.stream_id).add(cue)
        if cue.kind == LiveKind.END:
            writers.pop(cue.stream_id, None)
            log.info(
                "stream %s ended (%s): files written in %s", cue.stream_id, cue.reason, out_dir
            )
        return []

    async def handle(cue: LiveCue) -> list[Outgoing]:
        # File writes of a few hundred bytes; the segment and playlist rewrites are atomic.
        return await stage.platform.run_in_lane("live-files", write, cue)

    stage.agent(INPUTS, handle, on_failure=lambda key, error: [])

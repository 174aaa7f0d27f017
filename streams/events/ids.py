"""Segment ids: built and parsed here only.

A segment id is ``<job_id>:<window>-<position>`` (``job:0002-0005``): stable across re-plans of
the same audio, so duplicates are recognised, and it tells its job and window without a lookup,
so even a message whose body cannot be read is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass

# A window holds fewer segments than this, so the index below orders segments by media time.
POSITIONS_PER_WINDOW = 10_000


@dataclass(frozen=True, slots=True)
class SegmentId:
    job_id: str
    window: int
    position: int

    def __post_init__(self) -> None:
        if not 0 <= self.position < POSITIONS_PER_WINDOW or self.window < 0:
            raise ValueError(f"segment position out of range: {self.window}-{self.position}")

    def __str__(self) -> str:
        return f"{self.job_id}:{self.window:04d}-{self.position:04d}"

    @property
    def index(self) -> int:
        """Media order across the whole job."""
        return self.window * POSITIONS_PER_WINDOW + self.position

    @classmethod
    def parse(cls, text: str) -> SegmentId:
        """The inverse of ``str()``; ValueError for anything else."""
        job_id, sep, place = text.rpartition(":")
        window, dash, position = place.partition("-")
        if not (job_id and sep and dash and window.isdigit() and position.isdigit()):
            raise ValueError(f"not a segment id: {text!r}")
        return cls(job_id, int(window), int(position))


def job_prefix(job_id: str) -> str:
    """Every segment id of the job starts with this."""
    return f"{job_id}:"

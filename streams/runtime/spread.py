"""Even spread of weighted events over a topic's partitions.

Kafka hashes keys to partitions, so a job's few dozen segments land unevenly: with two
transcription workers one got 143 s of audio and the other 27 s. An event published with a
weight (its seconds of audio) goes instead to the partition with the least weight sent so far
by this process, so every partition, and so every consumer whatever partitions it owns, gets
about the same work. Per process and in memory: losing it only loses evenness, never events.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Spread:
    """Weight sent so far per partition, by topic."""

    sent: dict[str, list[float]] = field(default_factory=dict)

    def partition(self, topic: str, partitions: int, weight: float) -> int:
        """The least-loaded partition of ``topic`` (the lowest number on a tie); counts
        ``weight`` against it."""
        if partitions < 1:
            raise ValueError(f"{topic} has no partitions")
        loads = self.sent.setdefault(topic, [0.0] * partitions)
        if len(loads) != partitions:
            loads[:] = [0.0] * partitions
        chosen = min(range(partitions), key=loads.__getitem__)
        loads[chosen] += max(weight, 0.0)
        return chosen

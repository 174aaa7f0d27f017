"""Segment ids are built and parsed in one place."""

from __future__ import annotations

import pytest

from streams.events.ids import SegmentId, job_prefix


def test_ids_round_trip_and_order_by_media_time() -> None:
    ids = [SegmentId("job:with:colons", w, p) for w in range(3) for p in range(12)]
    assert [SegmentId.parse(str(i)) for i in ids] == ids
    assert sorted(ids, key=lambda i: i.index) == ids
    assert str(SegmentId("j", 2, 5)) == "j:0002-0005"
    assert str(ids[0]).startswith(job_prefix("job:with:colons"))


@pytest.mark.parametrize("text", ["", "j", "j:", "j:0001", "j:a-1", ":0001-0002", "j:1-x"])
def test_anything_else_is_not_a_segment_id(text: str) -> None:
    with pytest.raises(ValueError):
        SegmentId.parse(text)


def test_positions_stay_inside_the_window_range() -> None:
    with pytest.raises(ValueError):
        SegmentId("j", 0, 10_000)

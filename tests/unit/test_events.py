"""The typed events and their schemas: one source of truth, and drift is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from streams.events import model as events
from streams.events.codegen import class_mismatches, generate
from streams.resources import SCHEMAS_DIR
from tests.examples import EXAMPLES

SCHEMA_FILES = sorted(SCHEMAS_DIR.glob("*.avsc"))


def schema_of(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS_DIR / f"kaption.{name}.avsc").read_text()))


def test_the_committed_module_is_what_the_schemas_generate() -> None:
    committed = Path(events.__file__).read_text()
    assert committed == generate(), "streams/events/model.py is stale: run `make events`"


def test_every_schema_file_has_its_class_and_an_example() -> None:
    names = {path.name.removeprefix("kaption.").removesuffix(".avsc") for path in SCHEMA_FILES}
    assert set(events.EVENT_TYPES) == names == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(events.EVENT_TYPES))
def test_each_class_agrees_with_its_schema(name: str) -> None:
    assert class_mismatches(events.EVENT_TYPES[name], schema_of(name)) == []


def mutated(name: str, change: str) -> dict[str, Any]:
    schema = copy.deepcopy(schema_of(name))
    fields = schema["fields"]
    if change == "added":
        fields.append({"name": "extra", "type": "string"})
    elif change == "removed":
        fields.pop()
    elif change == "renamed":
        fields[0]["name"] = "renamed_id"
    elif change == "retyped":
        fields[0]["type"] = "long"
    return schema


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("added", "field 'extra' missing from the class"),
        ("removed", "not in the schema"),
        ("renamed", "field 'renamed_id' missing from the class"),
        ("retyped", "field 'job_id' is str in the class, int in the schema"),
    ],
)
def test_a_class_that_disagrees_with_its_schema_is_reported(change: str, message: str) -> None:
    problems = class_mismatches(events.JobRequested, mutated("JobRequested", change))
    assert any(message in problem for problem in problems), problems


def test_enums_come_from_the_schemas() -> None:
    (state,) = [f for f in schema_of("JobStatus")["fields"] if f["name"] == "state"]
    assert [s.value for s in events.JobState] == state["type"]["symbols"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_records_round_trip_through_the_classes(name: str) -> None:
    example = EXAMPLES[name]
    assert type(example).from_record(example.to_record()) == example


def test_events_are_immutable() -> None:
    with pytest.raises(AttributeError):
        EXAMPLES["JobRequested"].job_id = "other"  # type: ignore[attr-defined]

"""Generates ``streams/events/model.py``, one typed class per Avro schema, from ``schemas/*.avsc``.

The .avsc files are the single source of truth; the classes are derived so that agents exchange
typed, immutable values instead of dicts, and enums are never written twice. Run
``python -m streams.events.codegen`` (``make events``) after changing a schema; a unit test
fails while the committed module and the schemas disagree.

Avro types map to Python as: string → str, bytes → bytes, int/long → int, float/double →
float, boolean → bool, long/timestamp-millis → datetime, array → tuple, ["null", T] → T | None,
enum → StrEnum, record → frozen dataclass with ``from_record``/``to_record``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.resources import SCHEMAS_DIR

TARGET = Path(__file__).resolve().parent / "model.py"
PRIMITIVES = {
    "string": "str",
    "bytes": "bytes",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
}

HEADER = '''"""Typed kaption events: GENERATED from schemas/*.avsc by
``python -m streams.events.codegen``.

Do not edit by hand: change the schema and run ``make events``. Each class converts to and from
the plain records fastavro reads and writes (``from_record``/``to_record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class Event:
    """A top-level event: one .avsc file, one Kafka message."""

    __slots__ = ()
    SCHEMA: ClassVar[str]  # the schema's short name, e.g. "JobRequested"

    def to_record(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Event:
        raise NotImplementedError
'''


@dataclass(frozen=True)
class Conversion:
    """How one Avro type appears in Python: its annotation, and expressions that convert a
    record value (``{}`` is the value) to and from it."""

    annotation: str
    read: str = "{}"
    write: str = "{}"


@dataclass
class _Generator:
    named: dict[str, dict[str, Any]]  # full name -> record or enum schema, in definition order
    top_level: list[str]  # full names of the schemas that are files

    def conversion(self, avro: Any) -> Conversion:
        if isinstance(avro, str):
            if avro in PRIMITIVES:
                return Conversion(PRIMITIVES[avro])
            if avro == "null":
                return Conversion("None")
            return self._named(avro)
        if isinstance(avro, list):
            others = [t for t in avro if t != "null"]
            if len(avro) != 2 or len(others) != 1:
                raise ValueError(f"only [null, T] unions are supported, got {avro}")
            inner = self.conversion(others[0])
            return Conversion(
                f"{inner.annotation} | None", _optional(inner.read), _optional(inner.write)
            )
        kind = avro["type"]
        if kind == "long" and avro.get("logicalType") == "timestamp-millis":
            return Conversion("datetime")  # fastavro reads and writes datetimes itself
        if kind == "array":
            item = self.conversion(avro["items"])
            read = f"tuple({_bind(item.read, 'x')} for x in {{}})"
            write = f"[{_bind(item.write, 'x')} for x in {{}}]"
            if item.read == "{}":  # plain values need no conversion
                read, write = "tuple({})", "list({})"
            return Conversion(f"tuple[{item.annotation}, ...]", read, write)
        if kind in ("record", "enum"):
            return self._named(_full_name(avro))
        if kind in PRIMITIVES:
            return Conversion(PRIMITIVES[kind])
        raise ValueError(f"unsupported Avro type {avro}")

    def _named(self, full_name: str) -> Conversion:
        schema = self.named[full_name]
        name = schema["name"]
        if schema["type"] == "enum":
            return Conversion(name, f"{name}({{}})", "{}.value")
        return Conversion(name, f"{name}.from_record({{}})", "{}.to_record()")

    def fields(self, record: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
        """(name, annotation, default source) of each field, in schema order."""
        found = []
        for field in record["fields"]:
            annotation = self.conversion(field["type"]).annotation
            default = _default(field["default"]) if "default" in field else None
            found.append((field["name"], annotation, default))
        return found

    def render(self) -> str:
        parts = [HEADER]
        for full_name, schema in self.named.items():
            if schema["type"] == "enum":
                parts.append(self._enum(schema))
            else:
                parts.append(self._record(schema, full_name in self.top_level))
        names = [self.named[n]["name"] for n in self.top_level]
        entries = "".join(f"    {_quote(name)}: {name},\n" for name in names)
        parts.append(f"\nEVENT_TYPES: dict[str, type[Event]] = {{\n{entries}}}\n")
        return "\n".join(parts)

    def _enum(self, schema: Mapping[str, Any]) -> str:
        lines = ["", f"class {schema['name']}(StrEnum):", *_docstring(schema)]
        lines += [f"    {symbol} = {_quote(symbol)}" for symbol in schema["symbols"]]
        return "\n".join(lines) + "\n"

    def _record(self, schema: Mapping[str, Any], top_level: bool) -> str:
        name = schema["name"]
        base = "(Event)" if top_level else ""
        lines = ["", "@dataclass(frozen=True, slots=True, kw_only=True)", f"class {name}{base}:"]
        lines += _docstring(schema)
        if top_level:
            lines += [f"    SCHEMA: ClassVar[str] = {_quote(name)}", ""]
        for field, (field_name, annotation, default) in zip(
            schema["fields"], self.fields(schema), strict=True
        ):
            lines += [f"    # {line}" for line in textwrap.wrap(field.get("doc", ""), 90)]
            suffix = f" = {default}" if default is not None else ""
            lines.append(f"    {field_name}: {annotation}{suffix}")
        reads = [
            f"            {f['name']}="
            + _bind(self.conversion(f["type"]).read, f"record[{_quote(f['name'])}]")
            + ","
            for f in schema["fields"]
        ]
        writes = [
            f"            {_quote(f['name'])}: "
            + _bind(self.conversion(f["type"]).write, f"self.{f['name']}")
            + ","
            for f in schema["fields"]
        ]
        lines += [
            "",
            "    @classmethod",
            f"    def from_record(cls, record: Mapping[str, Any]) -> {name}:",
            "        return cls(",
            *reads,
            "        )",
            "",
            "    def to_record(self) -> dict[str, Any]:",
            "        return {",
            *writes,
            "        }",
        ]
        return "\n".join(lines) + "\n"


def _bind(template: str, value: str) -> str:
    return template.replace("{}", value)


def _optional(template: str) -> str:
    return template if template == "{}" else f"None if {{}} is None else {template}"


def _quote(text: str) -> str:
    return json.dumps(text)


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def _default(value: Any) -> str:
    if value is None:
        return "None"
    if value == []:
        return "()"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool | int | float):
        return repr(value)
    raise ValueError(f"unsupported default {value!r}")


def _docstring(schema: Mapping[str, Any]) -> list[str]:
    doc = schema.get("doc", "").strip()
    if not doc:
        return []
    wrapped = textwrap.wrap(doc, 88)
    if len(wrapped) == 1:
        return [f'    """{wrapped[0]}"""', ""]
    return ['    """' + wrapped[0], *[f"    {line}" for line in wrapped[1:]], '    """', ""]


def _walk(avro: Any, namespace: str) -> Iterator[dict[str, Any]]:
    """Named types (records, enums) in definition order, nested ones before their parent."""
    if isinstance(avro, list):
        for item in avro:
            yield from _walk(item, namespace)
    elif isinstance(avro, dict):
        kind = avro.get("type")
        if kind == "record":
            for field in avro["fields"]:
                yield from _walk(field["type"], avro.get("namespace", namespace))
            yield avro
        elif kind == "enum":
            yield avro
        elif kind == "array":
            yield from _walk(avro["items"], namespace)


def load_generator(schemas_dir: Path) -> _Generator:
    named: dict[str, dict[str, Any]] = {}
    top_level = []
    for path in sorted(schemas_dir.glob("*.avsc")):
        schema = json.loads(path.read_text())
        for found in _walk(schema, schema.get("namespace", "")):
            named.setdefault(_full_name(found), found)
        top_level.append(_full_name(schema))
    names = [schema["name"] for schema in named.values()]
    if len(names) != len(set(names)):
        raise ValueError(f"two schemas share a short name: {sorted(names)}")
    return _Generator(named, top_level)


def generate(schemas_dir: Path = SCHEMAS_DIR) -> str:
    """The source of streams/events/model.py for the schemas in ``schemas_dir``."""
    return load_generator(schemas_dir).render()


def class_mismatches(
    cls: type, schema: Mapping[str, Any], schemas_dir: Path = SCHEMAS_DIR
) -> list[str]:
    """How a generated class differs from a record schema: fields added, removed, renamed or of
    another type (empty when they agree)."""
    generator = load_generator(schemas_dir)
    for found in _walk(schema, schema.get("namespace", "")):
        generator.named[_full_name(found)] = found  # the schema under test wins
    wanted = {name: annotation for name, annotation, _ in generator.fields(schema)}
    actual = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    problems = [f"field {n!r} missing from the class" for n in wanted if n not in actual]
    problems += [f"field {n!r} not in the schema" for n in actual if n not in wanted]
    problems += [
        f"field {n!r} is {actual[n]} in the class, {wanted[n]} in the schema"
        for n in wanted
        if n in actual and actual[n] != wanted[n]
    ]
    if list(wanted) != list(actual) and not problems:
        problems.append(f"field order differs: {list(actual)} != {list(wanted)}")
    return problems


def main() -> None:
    source = generate()
    if "--check" in sys.argv:
        if TARGET.read_text() != source:
            sys.exit(f"{TARGET} is out of date: run `python -m streams.events.codegen`")
        return
    TARGET.write_text(source)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()

"""``Run`` to and from JSON-ready dicts, and the JSON Schema of that output.

``to_dict`` is :func:`runnorm._model.encoding.run_document`, the one document builder every
output format shares; ``from_dict`` is cattrs, one converter built once. The JSON values a
run carries (``raw``, ``result``, ``extra``, error details, inline artifact content) pass
through untouched both ways: walking them value by value is where most of the time would go
(PERFORMANCE.md). The dicts ``to_dict`` returns share those values with the ``Run``; copy
before mutating.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from runnorm._errors import PayloadError, shorten
from runnorm._model.encoding import READABLE_VERSIONS, SCHEMA_VERSION, run_document
from runnorm._model.run import Artifact, ArtifactKind, Attempt, Run, RunError, Timing
from runnorm._model.status import RunStatus
from runnorm._model.timestamps import parse_timestamp

__all__ = [
    "SCHEMA_VERSION",
    "converter",
    "json_schema",
    "run_from_dict",
    "run_to_dict",
]


_DURATIONS = ("queue_time", "run_time", "total_time")


def _structure_identity(value: Any, _type: Any) -> Any:
    return value


def _structure_datetime(value: Any, _type: Any) -> datetime | None:
    return parse_timestamp(value, path="timing")


def _structure_bool(value: Any, _type: Any) -> bool:
    if type(value) is not bool:
        raise PayloadError(f"expected true or false, got {shorten(value)}")
    return value


def _structure_str(value: Any, _type: Any) -> str:
    """A string as written; cattrs' own hook would call ``str()`` on anything (``None`` read
    as ``"None"``, an object as its repr)."""
    if type(value) is not str and not isinstance(value, str):
        raise PayloadError(f"expected a string, got {shorten(value)}")
    return value


def _structure_enum(value: Any, type_: Any) -> Enum:
    return type_(value)  # type: ignore[no-any-return]  # ValueError for a word not listed


def _structure_int(value: Any, _type: Any) -> int:
    """A whole number (a float without a fraction counts, as JSON writers vary); cattrs' own
    hook would call ``int()`` (``"12"``, ``1.5`` and ``true`` read as numbers)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise PayloadError(f"expected an integer, got {shorten(value)}")


def _objects_only(structure: Any) -> Any:
    """*structure* (a generated hook) for JSON objects alone: the generated hooks read any
    value, so that a string or a list would give a ``Timing`` or ``RunError`` of defaults."""

    def objects_only(value: Any, _type: Any) -> Any:
        if not isinstance(value, Mapping):
            raise PayloadError(f"expected an object, got {shorten(value)}")
        return structure(value, _type)

    return objects_only


def _structure_details(value: Any, _type: Any) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
        raise PayloadError(
            f"error.details must be a list of objects, got {shorten(value)}", path="error.details"
        )
    return tuple(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    _register_parts(conv)
    _register_run(conv)
    return conv


def _register_parts(conv: cattrs.Converter) -> None:
    """Structure hooks for what a run holds: timestamps, ``RunError``, ``Artifact``,
    ``Attempt``."""
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    for enum in (RunStatus, ArtifactKind):  # str subclasses: their values, not any string
        conv.register_structure_hook(enum, _structure_enum)
    conv.register_structure_hook(Timing, _objects_only(make_dict_structure_fn(Timing, conv)))
    conv.register_structure_hook(
        RunError,
        _objects_only(
            make_dict_structure_fn(RunError, conv, details=override(struct_hook=_structure_details))
        ),
    )
    conv.register_structure_hook(
        Artifact,
        _objects_only(
            make_dict_structure_fn(
                Artifact, conv, content=override(struct_hook=_structure_identity)
            )
        ),
    )
    conv.register_structure_hook(
        Attempt,
        _objects_only(
            make_dict_structure_fn(Attempt, conv, extra=override(struct_hook=_structure_mapping))
        ),
    )


def _register_run(conv: cattrs.Converter) -> None:
    """Structure hooks for ``Run``; its JSON values pass through untouched."""
    conv.register_structure_hook(
        Run,
        make_dict_structure_fn(
            Run,
            conv,
            result=override(struct_hook=_structure_identity),
            extra=override(struct_hook=_structure_mapping),
            raw=override(struct_hook=_structure_mapping),
        ),
    )


def _structure_mapping(value: Any, _type: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"expected an object, got {shorten(value)}")
    return value


converter = _make_converter()
_structure_run = converter.get_structure_hook(Run)


def run_to_dict(run: Run) -> dict[str, Any]:
    """``Run`` -> JSON-ready dict with ``schema_version`` first (:func:`run_document`)."""
    return run_document(run, datetime.isoformat)


def run_from_dict(data: Mapping[str, Any]) -> Run:
    """The inverse of :func:`run_to_dict`; a bad document raises ``PayloadError``."""
    if not isinstance(data, Mapping):
        raise PayloadError(f"expected an object, got {shorten(data)}", value=data)
    version = data.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise PayloadError(
            f"unsupported schema_version {shorten(version)} (this runnorm reads {readable})",
            path="schema_version",
            value=version,
        )
    try:
        return _structure_run(data, Run)  # type: ignore[no-any-return]
    except PayloadError:
        raise
    except Exception as exc:  # cattrs' ClassValidationError and friends
        raise PayloadError(f"not a serialized Run: {_describe(exc)}", value=data) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc)
        return "; ".join(notes) if notes else str(exc)
    return f"{type(exc).__name__}: {exc}"


# -- JSON Schema ------------------------------------------------------------------------------

_JSON_VALUE: dict[str, Any] = {"description": "any JSON value"}


def _schema_for(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_schema_for(arg) for arg in typing.get_args(tp)]
        return {"anyOf": options}
    if tp is type(None):
        return {"type": "null"}
    if tp is Any:
        return dict(_JSON_VALUE)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [member.value for member in tp]}
    if origin is tuple:
        return {"type": "array", "items": _schema_for(typing.get_args(tp)[0])}
    if origin in (Mapping, dict):
        return {"type": "object"}
    if attrs.has(tp):
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no JSON Schema for {tp!r}")  # pragma: no cover - a model change


def _object_schema(cls: type, description: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {field.name: _schema_for(hints[field.name]) for field in attrs.fields(cls)}
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``Run.to_dict()`` output."""
    run = _object_schema(Run, "A normalized run.")
    run["properties"] = {
        "schema_version": {"const": SCHEMA_VERSION},
        **run["properties"],
    }
    run["required"] = ["schema_version", *run["required"]]
    run["additionalProperties"] = False
    timing = _object_schema(Timing, "Timestamps in ISO 8601 with offset; durations in seconds.")
    for name in _DURATIONS:
        timing["properties"][name] = {"type": ["number", "null"]}
        timing["required"].append(name)
    definitions = {
        "Timing": timing,
        "RunError": _object_schema(RunError, "Why the run failed."),
        "Artifact": _object_schema(Artifact, "A file or link the run produced."),
        "Attempt": _object_schema(Attempt, "One attempt of a run retried under the same id."),
    }
    for definition in definitions.values():
        definition["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "runnorm Run",
        **run,
        "$defs": definitions,
        "x-statuses": {status.value: status.is_terminal for status in RunStatus},
        "x-artifact-kinds": [kind.value for kind in ArtifactKind],
    }

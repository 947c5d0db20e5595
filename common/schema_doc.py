"""Shapes described as OpenAPI 3.0 schemas (for `make openapi`; the functions never load
this): nested shapes by $ref, `components` lists every shape reachable."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from common.schema import Field, Json, fields_of, is_shape


def ref(shape: type) -> Json:
    return {"$ref": f"#/components/schemas/{shape.__name__}"}


def describe(shape: type) -> Json:
    """The OpenAPI 3.0 schema of `shape` (nested shapes by $ref; `components` lists them)."""
    fields = fields_of(shape)
    schema: Json = {"type": "object"}
    doc = _summary(shape)
    if doc:
        schema["description"] = doc
    required = [f.wire for f in fields if f.required]
    if required:
        schema["required"] = required
    if getattr(shape, "CLOSED", True):
        schema["additionalProperties"] = False
    schema["properties"] = {f.wire: _property(f) for f in fields}
    schema.update(getattr(shape, "SCHEMA_EXTRA", {}))
    return schema


def _summary(shape: type) -> str | None:
    return " ".join((shape.__doc__ or "").split()) or None


def _property(f: Field) -> Json:
    schema = _type_schema(f.kind)
    extra: Json = dict(f.constraints)
    if f.nullable:
        extra["nullable"] = True
    if f.description:
        extra["description"] = f.description
    if extra and "$ref" in schema:
        # OpenAPI 3.0 ignores siblings of $ref: wrap it.
        return {"allOf": [schema], **extra}
    return {**schema, **extra}


def _type_schema(kind: Any) -> Json:
    origin = typing.get_origin(kind)
    if is_shape(kind):
        return ref(kind)
    if origin in (list, tuple):
        return {"type": "array", "items": _type_schema(typing.get_args(kind)[0])}
    if origin is dict:
        values = typing.get_args(kind)[1]
        return {"type": "object"} | (
            {} if values is Any else {"additionalProperties": _type_schema(values)}
        )
    if origin in (typing.Union, types.UnionType):
        return {"oneOf": [_type_schema(t) for t in typing.get_args(kind)]}
    if origin is Literal:
        choices = list(typing.get_args(kind))
        return {"type": "boolean" if isinstance(choices[0], bool) else "string", "enum": choices}
    simple = {
        str: {"type": "string"},
        int: {"type": "integer"},
        float: {"type": "number"},
        bool: {"type": "boolean"},
        datetime: {"type": "string", "format": "date-time"},
        dict: {"type": "object"},
    }
    if kind in simple:
        return dict(simple[kind])
    raise TypeError(f"no schema for {kind!r}")


def components(shapes: Sequence[type]) -> Json:
    """Every shape reachable from `shapes`, by name."""
    found: dict[str, Json] = {}
    pending = list(shapes)
    while pending:
        shape = pending.pop()
        if shape.__name__ in found:
            continue
        found[shape.__name__] = describe(shape)
        pending.extend(_nested(shape))
    return dict(sorted(found.items()))


def _nested(shape: type) -> list[type]:
    nested = []
    for f in fields_of(shape):
        kind = f.kind
        while typing.get_origin(kind) in (list, tuple, dict):
            kind = typing.get_args(kind)[-1]
        variants = _variants(kind)
        nested += [t for t in variants if is_shape(t)]
    return nested


def _variants(kind: Any) -> tuple[Any, ...]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return typing.get_args(kind)
    return (kind,)

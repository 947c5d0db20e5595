"""Shapes declared once: small immutable classes read from JSON (every problem named) and
written as JSON (common.schema_doc describes them as OpenAPI 3.0 schemas).

A shape is a class decorated with `@shape` whose annotated fields are snake_case; on the wire
they are camelCase (`account_id` is `accountId`). A field without a default is required; a
field typed `X | None` may be null, unless `spec(nullable=False)` says that None only means
"left out". Written out, a field left at None is omitted when it has a default and shown as
null when it is required. `spec()` adds constraints and a description. Shapes are built with
keywords only and are frozen; type checkers see them as dataclasses (`dataclass_transform`).

Why not dataclasses, pydantic or msgspec (measured on the api function's cold start): the api
declares about 40 shapes, and `@dataclass` writes and compiles five methods for each (50-60 ms
of CPU for them all here, against about 10 ms for these shapes; the small records below are
NamedTuples for the same reason); pydantic adds about 70 ms of import and model building;
msgspec's Structs cost nothing to create, but it stops at the first problem of a body and the
API names every one. A shape here costs a class statement: its methods are shared.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, TypeVar

Problem = tuple[str, str]  # (field path, message)
Json = dict[str, Any]
T = TypeVar("T")
S = TypeVar("S")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Spec(NamedTuple):
    default: Any
    description: str | None
    nullable: bool | None
    constraints: Mapping[str, Any]


def spec(
    *,
    default: Any = MISSING,
    description: str | None = None,
    nullable: bool | None = None,
    **constraints: Any,
) -> Any:
    """A field with JSON Schema constraints (`minLength`, `maxLength`, `minimum`, `maximum`,
    `minItems`, `maxItems`, `pattern`) checked on reading and shown in the spec."""
    return _Spec(default, description, nullable, constraints)


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(spec,))
def shape(cls: type[T]) -> type[T]:
    """Make `cls` a shape: its annotated fields (ClassVars aside) with their defaults."""
    specs: dict[str, _Spec] = {}
    for name, annotation in inspect.get_annotations(cls).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        given = cls.__dict__.get(name, MISSING)
        specs[name] = given if isinstance(given, _Spec) else _Spec(given, None, None, {})
        if name in cls.__dict__:
            delattr(cls, name)  # every instance sets every field
    cls.__shape_specs__ = specs  # type: ignore[attr-defined]
    methods = {
        "__init__": _init,
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
        "__setattr__": _setattr,
        "__delattr__": _delattr,
    }
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


def is_shape(kind: object) -> bool:
    return isinstance(kind, type) and "__shape_specs__" in vars(kind)  # not inherited


def _specs(obj: Any) -> dict[str, _Spec]:
    specs: dict[str, _Spec] = type(obj).__shape_specs__
    return specs


def _init(self: Any, **given: Any) -> None:
    specs = _specs(self)
    unknown = sorted(set(given) - set(specs))
    missing = [n for n, f in specs.items() if n not in given and f.default is MISSING]
    if unknown or missing:
        raise TypeError(f"{type(self).__name__}: unknown {unknown}, missing {missing}")
    for name, field in specs.items():
        object.__setattr__(self, name, given.get(name, field.default))


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in _specs(obj))


def _eq(self: Any, other: object) -> object:
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _specs(self))
    return f"{type(self).__name__}({shown})"


def _setattr(self: Any, name: str, value: Any) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen")


def _delattr(self: Any, name: str) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen")


def wire_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Field(NamedTuple):
    name: str  # the attribute
    wire: str  # the JSON name
    kind: Any  # the type, None stripped
    nullable: bool
    required: bool
    description: str | None
    constraints: Mapping[str, Any]


@functools.cache
def fields_of(shape: type) -> tuple[Field, ...]:
    hints = typing.get_type_hints(shape)
    found = []
    for name, field in shape.__shape_specs__.items():  # type: ignore[attr-defined]
        kind, may_be_none = _strip_none(hints[name])
        nullable = may_be_none if field.nullable is None else field.nullable
        found.append(
            Field(
                name,
                wire_name(name),
                kind,
                nullable,
                field.default is MISSING,
                field.description,
                field.constraints,
            )
        )
    return tuple(found)


def _strip_none(kind: Any) -> tuple[Any, bool]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) < len(typing.get_args(kind)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True  # noqa: UP007
    return kind, False


# --- reading --------------------------------------------------------------------------------


def read(shape: type[S], data: Any, where: str = "") -> tuple[S | None, list[Problem]]:
    """`data` (parsed JSON) as `shape`, or None with every problem found (unknown fields,
    missing fields, wrong types, broken constraints)."""
    problems: list[Problem] = []
    value = _read_object(shape, data, where, problems)
    return (value if not problems else None), problems


def _read_object(shape: type, data: Any, where: str, problems: list[Problem]) -> Any:
    if not isinstance(data, dict):
        problems.append((where, f"{where or 'the body'} is a JSON object"))
        return None
    fields = fields_of(shape)
    known = [f.wire for f in fields]  # in declaration order, as the spec lists them
    listed = ", ".join(known[:-1]) + f" and {known[-1]}" if len(known) > 1 else known[0]
    for name in sorted(set(data) - set(known)):
        problems.append((_join(where, name), f"unknown field (this object has only {listed})"))
    values = {}
    for f in fields:
        path = _join(where, f.wire)
        if f.wire not in data:
            if f.required:
                problems.append((path, f"{f.wire} is required"))
            continue
        values[f.name] = _read_value(f, data[f.wire], path, problems)
    if any(f.required and f.name not in values for f in fields):
        return None  # already a problem
    return shape(**values)


def _read_value(f: Field, raw: Any, path: str, problems: list[Problem]) -> Any:
    if raw is None:
        if not f.nullable:
            problems.append((path, f"{f.wire} may not be null"))
        return None
    before = len(problems)
    value = _read_typed(f.kind, raw, path, f.wire, problems)
    if len(problems) == before:
        problems.extend((path, m) for m in _broken(f.wire, value, f.constraints))
    return value


def _read_typed(kind: Any, raw: Any, path: str, name: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(kind)
    if is_shape(kind):
        return _read_object(kind, raw, path, problems)
    if origin in (typing.Union, types.UnionType):
        return _read_variant(typing.get_args(kind), raw, path, name, problems)
    if origin is dict:
        kind = dict
    elif origin in (list, tuple):
        item_kind = typing.get_args(kind)[0]
        if not isinstance(raw, list):
            problems.append((path, f"{name} is a list"))
            return ()
        return tuple(
            _read_typed(item_kind, item, f"{path}[{i}]", name, problems)
            for i, item in enumerate(raw)
        )
    if origin is Literal:
        choices = typing.get_args(kind)
        if raw not in choices or not isinstance(raw, str):
            problems.append((path, f"{name} is one of {', '.join(choices)}"))
        return raw
    if not _is_instance(raw, kind):
        problems.append((path, f"{name} has the wrong type (a {_TYPE_NAMES[kind]})"))
    return raw


def _read_variant(
    shapes: tuple[type, ...], raw: Any, path: str, name: str, problems: list[Problem]
) -> Any:
    """One of several shapes, chosen by the required fields the object has (the variants'
    required fields tell them apart)."""
    present = set(raw) if isinstance(raw, dict) else set()
    for shape in shapes:
        if {f.wire for f in fields_of(shape) if f.required} <= present:
            return _read_object(shape, raw, path, problems)
    forms = " or ".join("{" + ", ".join(f.wire for f in fields_of(t)) + "}" for t in shapes)
    problems.append((path, f"{name} items are {forms}"))
    return None


def _is_instance(raw: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(raw, bool)
    if kind in (int, float):
        return isinstance(raw, int | float if kind is float else int) and not isinstance(raw, bool)
    if kind is Any:
        return True
    return isinstance(raw, kind)


_TYPE_NAMES = {str: "string", int: "whole number", float: "number", bool: "boolean", dict: "object"}


def _broken(name: str, value: Any, rules: Mapping[str, Any]) -> list[str]:
    checks = (
        ("minLength", "maxLength", len, "characters"),
        ("minItems", "maxItems", len, "items"),
        ("minimum", "maximum", lambda v: v, ""),
    )
    found = []
    pattern = rules.get("pattern")
    if pattern is not None and not re.search(pattern, value):
        found.append(f"{name} does not match {pattern}")
    for low_rule, high_rule, measure, unit in checks:
        low, high = rules.get(low_rule), rules.get(high_rule)
        if low is None and high is None:
            continue
        size = measure(value)
        if (low is not None and size < low) or (high is not None and size > high):
            limits = f"at least {low}" if high is None else f"{low or 0} to {high}"
            found.append(f"{name} has {limits} {unit}".rstrip() if unit else f"{name} is {limits}")
    return found


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


# --- writing --------------------------------------------------------------------------------


def dump(value: Any) -> Json:
    """`value` as JSON (instants stay datetimes for the one JSON encoder to write)."""
    out: Json = {}
    kind: type = type(value)
    for f in fields_of(kind):
        item = getattr(value, f.name)
        if item is None and not f.required:
            continue
        out[f.wire] = _dump_value(item)
    return out


def _dump_value(item: Any) -> Any:
    if is_shape(type(item)):
        return dump(item)
    if isinstance(item, list | tuple):
        return [_dump_value(i) for i in item]
    if isinstance(item, dict):
        return {k: _dump_value(v) for k, v in item.items()}
    return item

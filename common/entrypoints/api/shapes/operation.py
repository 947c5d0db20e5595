"""How a route of the api is declared: its path, method, scope, parameters and answers (the
router and docs/openapi.yaml are built from these declarations)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple


class Param(NamedTuple):
    name: str
    where: Literal["path", "query", "header"]
    schema: Mapping[str, Any]
    description: str | None = None
    required: bool = False


class Answer(NamedTuple):
    status: int
    description: str
    shape: tuple[type, ...] = ()  # several: oneOf
    headers: Mapping[str, Mapping[str, Any]] = MappingProxyType({})


class Operation(NamedTuple):
    """One route of the api: its path (OpenAPI template), method, scope and shapes."""

    path: str
    method: str
    operation_id: str
    scope: str
    summary: str
    answers: tuple[Answer, ...]
    body: tuple[type, ...] = ()  # several: oneOf
    body_required: bool = True
    params: tuple[Param, ...] = ()
    refusals: tuple[int, ...] = ()  # statuses beyond those every route may answer
    description: str | None = None


POST_ID = Param("id", "path", {"type": "string"}, required=True)

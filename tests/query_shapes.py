"""Which declared index serves a command: the rule the query-shape tests apply.

The local MongoDB-compatible server ignores secondary indexes, so a query that would scan a
whole collection on MongoDB runs just as fast here. These helpers record every command a piece
of code sends (a pymongo CommandListener) and check each filter and sort against the indexes
db.INDEXES declares, the way MongoDB's planner can use them: the filter names the index's
first key with an equality, $in or range condition (or, for a filter that names no field, the
index is read in the sort's order), and a sort follows the index's keys after the fields the
filter fixes by equality.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pymongo import monitoring

from common.db import INDEXES, IndexSpec

Doc = dict[str, Any]
_RANGE = {"$lt", "$lte", "$gt", "$gte"}
_SEEKABLE = {"$eq", "$in", *_RANGE}
_SETUP = {"createIndexes", "listIndexes", "dropIndexes", "drop", "dropDatabase", "insert"}
_ID_INDEX = IndexSpec("_id_", (("_id", 1),))


@dataclass(frozen=True)
class Query:
    """One filter (and sort) a command sent to a collection."""

    command: str
    collection: str
    filter: Doc
    sort: Doc | None = None
    pipeline_rest: tuple[Doc, ...] = ()
    limit: int | None = None


class CommandRecorder(monitoring.CommandListener):
    """Every command a client sends, thread-safe (the run publishes on a pool)."""

    def __init__(self) -> None:
        self.commands: list[Doc] = []
        self._guard = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("isMaster", "hello", "ping", "endSessions"):
            return
        with self._guard:
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None

    def clear(self) -> None:
        with self._guard:
            self.commands.clear()


def queries(commands: Sequence[Doc], ignore: set[str] = frozenset()) -> list[Query]:  # type: ignore[assignment]
    """The filters of the reads and writes among `commands` (index set-up and inserts aside)."""
    found: list[Query] = []
    for command in commands:
        name = next(iter(command))
        collection = command[name]
        if name in _SETUP or collection in ignore:
            continue
        found.extend(_queries_of(name, str(collection), command))
    return found


def _queries_of(name: str, collection: str, command: Doc) -> list[Query]:
    if name == "find":
        filter_, sort = command.get("filter", {}), command.get("sort")
        return [Query(name, collection, filter_, sort, limit=command.get("limit"))]
    if name in ("count", "distinct"):
        return [Query(name, collection, command.get("query", {}))]
    if name == "findAndModify":
        return [Query(name, collection, command.get("query", {}), command.get("sort"))]
    if name == "update":
        return [Query(name, collection, u["q"]) for u in command["updates"]]
    if name == "delete":
        return [Query(name, collection, d["q"]) for d in command["deletes"]]
    if name == "aggregate":
        pipeline = list(command["pipeline"])
        first = pipeline[0] if pipeline else {}
        match = first.get("$match", {}) if "$match" in first else {}
        rest = pipeline[1:] if "$match" in first else pipeline
        sort = rest[0]["$sort"] if rest and "$sort" in rest[0] else None
        return [Query(name, collection, match, sort, tuple(rest)), *_lookups(rest)]
    raise AssertionError(f"no shape rule for the {name} command")


def _lookups(stages: Sequence[Doc]) -> list[Query]:
    """The query each $lookup's own pipeline sends to the collection it reads."""
    found: list[Query] = []
    for stage in stages:
        lookup = stage.get("$lookup")
        if lookup is not None:
            command = {"aggregate": lookup["from"], "pipeline": lookup.get("pipeline", [])}
            found.extend(_queries_of("aggregate", str(lookup["from"]), command))
    return found


def _seekable(condition: Any) -> bool:
    """An equality, $in or range on the field: an index can seek to it."""
    if not isinstance(condition, Mapping):
        return True  # equality with a value
    operators = set(condition)
    if not all(op.startswith("$") for op in operators):
        return True  # equality with an embedded document
    return bool(operators) and operators <= _SEEKABLE


def _fixed(condition: Any) -> bool:
    """The field has one value (or a small $in list a merge sort handles)."""
    return _seekable(condition) and not (isinstance(condition, Mapping) and set(condition) & _RANGE)


def _sort_follows(index: IndexSpec, filter_: Doc, sort: Doc) -> bool:
    keys = list(index.keys)
    position = 0
    while position < len(keys) and keys[position][0] not in sort and keys[position][0] in filter_:
        if not _fixed(filter_[keys[position][0]]):
            return False
        position += 1
    wanted = list(sort.items())
    window = keys[position : position + len(wanted)]
    if [k for k, _ in window] != [k for k, _ in wanted]:
        return False
    same = all(int(d) == int(w) for (_, d), (_, w) in zip(window, wanted, strict=True))
    reversed_ = all(int(d) == -int(w) for (_, d), (_, w) in zip(window, wanted, strict=True))
    return same or reversed_


def serving_index(query: Query) -> str | None:
    """The name of a declared index that serves the query, or None.

    A top-level $or is served when each branch, with the rest of the filter, is. A filter that
    names no index prefix is still served by an index in the sort's order when a limit bounds
    the scan (a page of a list).
    """
    if "$or" in query.filter:
        rest = {k: v for k, v in query.filter.items() if k != "$or"}
        names = {serving_index(replace(query, filter={**rest, **b})) for b in query.filter["$or"]}
        return None if None in names or not names else "+".join(sorted(str(n) for n in names))
    candidates = (_ID_INDEX, *INDEXES.get(query.collection, ()))
    for index in candidates:
        first = index.keys[0][0]
        if first in query.filter and _seekable(query.filter[first]):
            if not query.sort or _sort_follows(index, query.filter, query.sort):
                return index.name
        elif query.sort and query.limit and _sort_follows(index, {}, query.sort):
            return index.name
    return None


# Collections that grow with every post ever scheduled: a $group there reads every document its
# $match selects (a queue, a history), so a $limit must bound it first.
_GROWING = {"posts"}


def _unbounded_group(query: Query) -> bool:
    for stage in query.pipeline_rest:
        if "$limit" in stage:
            return False
        if "$group" in stage:
            return query.collection in _GROWING
    return False


def problems(found: Sequence[Query]) -> list[str]:
    """Every query no index serves, every whole-collection stage, and every $group over posts
    that no $limit bounds."""
    wrong: list[str] = []
    for query in found:
        if serving_index(query) is None:
            wrong.append(f"{query.command} on {query.collection}: {query.filter} {query.sort}")
        for stage in query.pipeline_rest:
            if "$facet" in stage:
                wrong.append(f"$facet on {query.collection}: its sub-pipelines use no index")
        if _unbounded_group(query):
            wrong.append(f"$group on {query.collection} without a $limit: reads the whole range")
    return wrong

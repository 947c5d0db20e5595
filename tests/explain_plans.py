"""What a real MongoDB's explain (executionStats verbosity) says about one recorded command:
whether the plan it ran is served by indexes, and how many documents it examined.

Read from the winning plan only: the candidates the planner turned down (rejectedPlans,
allPlansExecution) may scan the collection, or use an index the winner does not, and prove
nothing either way. A $lookup's inner reads show in one of two places (MongoDB's explain
results, "Execution Plan Statistics for Query with $lookup Pipeline Stage"): run by the
classic engine, its entry in `stages` carries `collectionScans` and `indexesUsed` (5.0 and
later, executionStats only); pushed down to the slot-based engine (a localField/foreignField
$lookup, 6.0 and later), it is an EQ_LOOKUP stage of the winning plan whose `strategy` says
whether it reads the foreign collection by an index (IndexedLoopJoin). A missing figure is a
problem, not a pass: an explain without them proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]
INDEX_STAGES = frozenset({"IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN", "IDHACK", "EXPRESS_IXSCAN"})
# Plans the planner turned down; and the command echoed back, filters, index keys and a
# $lookup's own pipeline, whose field names are the documents' (one may be called "stage").
_NOT_THE_WINNER = frozenset(
    {
        "rejectedPlans",
        "allPlansExecution",
        "command",
        "parsedQuery",
        "filter",
        "indexBounds",
        "keyPattern",
        "$lookup",
    }
)
INDEXED_JOIN = "IndexedLoopJoin"


def plan_problems(command: Doc, explained: Doc, namespace: str) -> list[str]:
    """Why `explained` (the explain of `command`, on `namespace` "db.collection") does not show
    an index-served plan: empty when it does."""
    found: list[str] = []
    namespaces = {n for n in _winning(explained, "namespace") if isinstance(n, str)}
    if namespaces != {namespace}:
        found.append(f"the plan is for {sorted(namespaces)}, not {namespace}")
    stages = {s for s in _winning(explained, "stage") if isinstance(s, str)}
    if "COLLSCAN" in stages:
        found.append("the winning plan scans the collection")
    if not stages & INDEX_STAGES:
        found.append(f"the winning plan reads no index: {sorted(stages)}")
    found += _lookup_problems(command, explained)
    if docs_examined(explained) is None:
        found.append("no totalDocsExamined: not explained with executionStats")
    return found


def docs_examined(explained: Doc) -> int | None:
    """The most documents any part of the winning plan examined (None: no figure at all)."""
    figures = [int(n) for n in _winning(explained, "totalDocsExamined")]
    return max(figures) if figures else None


def _lookup_problems(command: Doc, explained: Doc) -> list[str]:
    asked = [s["$lookup"].get("from") for s in command.get("pipeline", []) if "$lookup" in s]
    classic = [s for s in explained.get("stages", []) if isinstance(s, dict) and "$lookup" in s]
    pushed = [n for n in _winning_nodes(explained) if n.get("stage") == "EQ_LOOKUP"]
    found: list[str] = []
    if len(classic) + len(pushed) != len(asked):
        shown = len(classic) + len(pushed)
        found.append(f"{len(asked)} $lookup stages asked for, {shown} explained")
    for stage in classic:
        found += _classic_lookup_problems(stage)
    for node in pushed:
        if node.get("strategy") != INDEXED_JOIN:
            joined = node.get("foreignCollection")
            found.append(f"the $lookup of {joined} joins by {node.get('strategy')}, no index")
    return found


def _classic_lookup_problems(stage: Doc) -> list[str]:
    joined = stage["$lookup"].get("from")
    if "collectionScans" not in stage or "indexesUsed" not in stage:
        return [
            f"the $lookup of {joined} has no collectionScans or indexesUsed: not explained "
            "with executionStats, or by a MongoDB before 5.0"
        ]
    found: list[str] = []
    if int(stage["collectionScans"]) != 0:
        found.append(f"the $lookup of {joined} scanned the collection")
    if not stage["indexesUsed"]:
        found.append(f"the $lookup of {joined} used no index")
    return found


def _winning(node: Any, key: str) -> Iterator[Any]:
    """Every value of `key` in the plan that ran."""
    for found in _winning_nodes(node):
        if key in found:
            yield found[key]


def _winning_nodes(node: Any) -> Iterator[Doc]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in _NOT_THE_WINNER:
                yield from _winning_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _winning_nodes(item)

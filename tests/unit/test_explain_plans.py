"""The explain check of `make test-mongodb` (tests/explain_plans.py) against explain documents
in the shapes MongoDB documents and its own tests assert (explain results; $lookup statistics
since 5.0; an EQ_LOOKUP stage when the slot-based engine runs the join): it fails a plan whose
proof is missing, not only one that shows a scan."""

from __future__ import annotations

from typing import Any

from tests.explain_plans import docs_examined, plan_problems

NS = "sched.scheduler_state"
Doc = dict[str, Any]


def _find_plan(winning: Doc, rejected: list[Doc] | None = None, ns: str = "sched.posts") -> Doc:
    return {
        "explainVersion": "1",
        "queryPlanner": {
            "namespace": ns,
            "parsedQuery": {"stage": {"$eq": "scheduled"}},
            "winningPlan": winning,
            "rejectedPlans": rejected or [],
        },
        "executionStats": {"nReturned": 1, "totalKeysExamined": 1, "totalDocsExamined": 1},
        "command": {"find": "posts", "filter": {"stage": "scheduled"}},
    }


_INDEXED = {
    "stage": "FETCH",
    "inputStage": {"stage": "IXSCAN", "indexName": "status_dueAt_id", "keyPattern": {"stage": 1}},
}
_SCAN = {"stage": "COLLSCAN", "direction": "forward"}
_FIND = {"find": "posts", "filter": {"status": "scheduled"}}


def _lookup(name: str) -> Doc:
    return {"$lookup": {"from": name, "as": f"_part_{name}", "pipeline": [{"$match": {}}]}}


_STATUS = {"aggregate": "scheduler_state", "pipeline": [{"$match": {"_id": "s"}}, _lookup("posts")]}


def _aggregate_plan(lookup_stats: Doc) -> Doc:
    cursor = {
        "queryPlanner": {"namespace": NS, "winningPlan": {"stage": "IDHACK"}, "rejectedPlans": []},
        "executionStats": {"nReturned": 1, "totalKeysExamined": 1, "totalDocsExamined": 1},
    }
    lookup = {
        "$lookup": {"from": "posts", "as": "_part_posts", "pipeline": [{"$match": {}}]},
        "nReturned": 1,
        **lookup_stats,
    }
    return {"explainVersion": "1", "stages": [{"$cursor": cursor}, lookup]}


def test_an_indexed_find_passes_even_when_a_rejected_plan_scans() -> None:
    plan = _find_plan(_INDEXED, rejected=[_SCAN])
    assert plan_problems(_FIND, plan, "sched.posts") == []
    assert docs_examined(plan) == 1


def test_an_index_only_a_rejected_plan_used_is_no_proof() -> None:
    problems = plan_problems(_FIND, _find_plan(_SCAN, rejected=[_INDEXED]), "sched.posts")
    assert problems == [
        "the winning plan scans the collection",
        "the winning plan reads no index: ['COLLSCAN']",
    ]


def test_a_plan_for_another_collection_is_not_the_one_checked() -> None:
    plan = _find_plan(_INDEXED, ns="sched.accounts")
    assert plan_problems(_FIND, plan, "sched.posts") == [
        "the plan is for ['sched.accounts'], not sched.posts"
    ]


def test_a_plan_without_execution_figures_is_no_proof() -> None:
    plan = _find_plan(_INDEXED)
    del plan["executionStats"]
    assert plan_problems(_FIND, plan, "sched.posts") == [
        "no totalDocsExamined: not explained with executionStats"
    ]
    assert docs_examined(plan) is None


def test_a_lookup_served_by_an_index_passes() -> None:
    stats = {"totalDocsExamined": 3, "collectionScans": 0, "indexesUsed": ["status_dueAt_id"]}
    plan = _aggregate_plan(stats)
    assert plan_problems(_STATUS, plan, NS) == []
    assert docs_examined(plan) == 3


def test_a_lookup_that_scans_or_uses_no_index_fails() -> None:
    scans = {"totalDocsExamined": 9, "collectionScans": 2, "indexesUsed": []}
    assert plan_problems(_STATUS, _aggregate_plan(scans), NS) == [
        "the $lookup of posts scanned the collection",
        "the $lookup of posts used no index",
    ]


def test_a_lookup_without_its_scan_figures_fails_instead_of_passing_unchecked() -> None:
    # queryPlanner verbosity, or a server before 5.0: the figures are not there.
    assert plan_problems(_STATUS, _aggregate_plan({"totalDocsExamined": 3}), NS) == [
        "the $lookup of posts has no collectionScans or indexesUsed: not explained with "
        "executionStats, or by a MongoDB before 5.0"
    ]


def test_a_lookup_missing_from_the_explain_fails() -> None:
    plan = _aggregate_plan({"collectionScans": 0, "indexesUsed": ["x"]})
    plan["stages"].pop()
    assert plan_problems(_STATUS, plan, NS) == ["1 $lookup stages asked for, 0 explained"]


def test_a_join_run_by_the_slot_based_engine_must_read_by_an_index() -> None:
    joined = {"aggregate": "accounts", "pipeline": [_lookup("posts")]}

    def pushed_down(strategy: str) -> Doc:
        join = {
            "stage": "EQ_LOOKUP",
            "foreignCollection": "sched.posts",
            "strategy": strategy,
            "inputStage": {"stage": "IXSCAN", "indexName": "_id_"},
        }
        winning = {"queryPlan": join, "slotBasedPlan": {"stages": "..."}}
        plan = _find_plan(winning, ns="sched.accounts")
        plan["explainVersion"] = "2"
        return plan

    assert plan_problems(joined, pushed_down("IndexedLoopJoin"), "sched.accounts") == []
    assert plan_problems(joined, pushed_down("NestedLoopJoin"), "sched.accounts") == [
        "the $lookup of sched.posts joins by NestedLoopJoin, no index"
    ]

"""Only the posts package writes a post (its status above all): every other module in common/
that names the posts collection only reads it."""

from __future__ import annotations

import ast
from pathlib import Path

import common

COMMON = Path(common.__file__).resolve().parent
# The package that owns the posts, and db.py, which makes the collection's indexes.
OWNERS = (COMMON / "posts", COMMON / "db.py")
WRITES = frozenset(
    {
        "bulk_write",
        "delete_many",
        "delete_one",
        "find_one_and_delete",
        "find_one_and_replace",
        "find_one_and_update",
        "insert_many",
        "insert_one",
        "replace_one",
        "update_many",
        "update_one",
        "UpdateMany",
        "UpdateOne",
        "ReplaceOne",
        "InsertOne",
        "DeleteOne",
        "DeleteMany",
    }
)


def _names_posts_collection(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "POSTS":
            return True
        slice_ = node.slice if isinstance(node, ast.Subscript) else None
        if isinstance(slice_, ast.Constant) and slice_.value == "posts":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "posts":
            return True
    return False


def _writes(tree: ast.AST) -> list[str]:
    called = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in WRITES:
                called.append(f"{name} (line {node.lineno})")
    return called


def post_writes_outside_the_package(source: str) -> list[str]:
    """The write calls of a module that names the posts collection: none may exist outside
    common/posts/, since a write there could change a post's status behind the state machine."""
    # Both checks match names, which the source spells: a module that spells no write or no
    # "posts"/"POSTS" has none to find, and skipping its parse makes the scan 10x cheaper.
    if not any(name in source for name in WRITES) or not ("posts" in source or "POSTS" in source):
        return []
    tree = ast.parse(source)
    return _writes(tree) if _names_posts_collection(tree) else []


def test_no_module_outside_the_posts_package_writes_posts() -> None:
    found = {}
    for path in sorted(COMMON.rglob("*.py")):
        if any(path == owner or owner in path.parents for owner in OWNERS):
            continue
        writes = post_writes_outside_the_package(path.read_text(encoding="utf-8"))
        if writes:
            found[str(path.relative_to(COMMON))] = writes
    assert found == {}, f"move these writes into common/posts/: {found}"


def test_the_scan_sees_a_status_write_through_any_name_of_the_collection() -> None:
    for collection in ("db[POSTS]", 'db["posts"]', "db.posts"):
        source = f'{collection}.update_one({{"_id": 1}}, {{"$set": {{"status": "failed"}}}})\n'
        assert post_writes_outside_the_package(source) == ["update_one (line 1)"]
    bulk = 'db[POSTS].bulk_write([UpdateOne({"_id": 1}, {"$set": {"status": "x"}})])\n'
    assert sorted(post_writes_outside_the_package(bulk)) == [
        "UpdateOne (line 1)",
        "bulk_write (line 1)",
    ]


def test_the_scan_lets_reads_of_posts_and_writes_of_other_collections_pass() -> None:
    assert post_writes_outside_the_package("db[POSTS].find_one({'_id': 1})\n") == []
    accounts = 'db[ACCOUNTS].update_one({"_id": 1}, {"$set": {"status": "needs_reauth"}})\n'
    assert post_writes_outside_the_package(accounts) == []

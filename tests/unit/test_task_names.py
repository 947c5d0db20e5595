"""Cloud Tasks names: deterministic per post version and due time, spread by a hashed prefix
(Google's CreateTask reference: sequential ids or prefixes raise latency and error rates)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from common.tasks import PostTask

DUE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
# Cloud Tasks: TASK_ID is letters, digits, hyphens and underscores, at most 500 characters.
TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


def test_the_same_post_version_and_due_time_always_name_the_same_task() -> None:
    post_id = ObjectId()
    assert PostTask.of(post_id, 3, DUE).task_id == PostTask.of(str(post_id), 3, DUE).task_id
    assert PostTask.of(post_id, 3, DUE).task_id != PostTask.of(post_id, 4, DUE).task_id
    later = DUE + timedelta(seconds=1)
    assert PostTask.of(post_id, 3, DUE).task_id != PostTask.of(post_id, 3, later).task_id


def test_names_start_with_a_hash_of_the_post_id_not_its_timestamp() -> None:
    post_id = str(ObjectId())
    name = PostTask.of(post_id, 1, DUE).task_id
    assert TASK_ID.match(name)
    prefix = name.split("-", 1)[0]
    assert prefix == hashlib.sha256(post_id.encode()).hexdigest()[:8]
    assert name.endswith(f"-post-{post_id}-v1-t{round(DUE.timestamp() * 1000)}")


def test_posts_created_in_one_second_get_spread_prefixes() -> None:
    # ObjectIds made in the same second share their first 8 hex digits (the timestamp).
    ids = [ObjectId(f"{int(DUE.timestamp()):08x}{n:016x}") for n in range(50)]
    assert len({str(i)[:8] for i in ids}) == 1
    prefixes = {PostTask.of(i, 1, DUE).task_id[:2] for i in ids}
    assert len(prefixes) > 20

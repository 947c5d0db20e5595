"""An API key's rate window counts the requests made with the key, not the guesses at it: a
key's id is no secret (the audit trail and the logs name it), so requests that carry the id with
a wrong secret must not spend the key's requests for the minute."""

from __future__ import annotations

from pymongo.database import Database

from common import apikeys
from common.clock import utcnow
from common.db import Doc

GUESSES = 50


def test_wrong_secrets_under_a_keys_id_do_not_spend_its_requests(db: Database[Doc]) -> None:
    now = utcnow()
    made = apikeys.create(db, "ops", ["admin"], now)
    guess = f"{apikeys.PREFIX}_{made.key.id}_{'x' * 43}"
    for _ in range(GUESSES):
        assert apikeys.verify(db, guess, now) is None
    verified = apikeys.verify(db, made.secret, now)
    assert verified is not None and verified.key.id == made.key.id
    assert verified.requests_in_window == 1  # was GUESSES + 1: the key's holder refused with 429
    again = apikeys.verify(db, made.secret, now)
    assert again is not None and again.requests_in_window == 2


def test_an_unknown_id_and_a_revoked_key_are_refused_and_count_nothing(db: Database[Doc]) -> None:
    now = utcnow()
    made = apikeys.create(db, "old", ["posts:read"], now)
    assert apikeys.verify(db, f"{apikeys.PREFIX}_0123456789abcdef_{'x' * 43}", now) is None
    assert apikeys.revoke(db, made.key.id, now)
    assert apikeys.verify(db, made.secret, now) is None

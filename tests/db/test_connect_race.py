"""Two connects of the same new login at once (a double-clicked button, a retried request):
the second one's insert meets the account the first one created between its read and its
insert. It must end as a re-authentication with its own credential, not a duplicate-key error
(a 500 from the api); an account made meanwhile for another identity still refuses the login.

The race is set up without threads: the cipher, which the use case calls after reading the
accounts and before inserting, stores the other connect's account first. The network is a
stand-in Connector (this layer starts no sandbox); the real ones are tested in tests/process."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.database import Database

from common import accounts
from common.clock import utcnow
from common.db import Doc
from common.model import Account
from common.operations.accounts import Connected, connect
from common.platforms.base import Credential, Inspection, Login, LoginRefused, TokenHealth
from common.tokens import TokenCipher
from tests.meta_support import TOKEN_KEY


class OneAccountNetwork:
    """A network whose every login grants the one account `credential`."""

    network: str = "mastodon"
    platforms: tuple[str, ...] = ("mastodon",)

    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        return [self.credential]

    def inspect(self, account: Account, now: datetime) -> Inspection:
        return Inspection(TokenHealth.healthy(account))


class CipherRacedByAnotherConnect(TokenCipher):
    """Before its first encryption, another connect stores `account_id` for `external_id`."""

    def __init__(self, db: Database[Doc], account_id: str, external_id: str) -> None:
        super().__init__((TOKEN_KEY,))
        self.race: tuple[Database[Doc], str, str] | None = (db, account_id, external_id)

    def encrypt(self, token: str) -> str:
        if self.race is not None:
            db, account_id, external_id = self.race
            self.race = None
            accounts.create(
                db,
                account_id=account_id,
                platform="mastodon",
                external_id=external_id,
                name="the other connect",
                token_ciphertext=super().encrypt("the other connect's token"),
                token_expires_at=None,
                now=utcnow(),
            )
        return super().encrypt(token)


CREDENTIAL = Credential("md-1", "mastodon", "109", "Ada", "this login's token")


def test_a_connect_that_loses_the_race_to_the_same_login_re_authenticates(
    db: Database[Doc],
) -> None:
    cipher = CipherRacedByAnotherConnect(db, "md-1", "109")
    done = connect(db, cipher, OneAccountNetwork(CREDENTIAL), Login("t"), utcnow())
    assert isinstance(done, Connected)
    assert [(a.account_id, a.added) for a in done.accounts] == [("md-1", False)]
    stored = db["accounts"].find_one({"_id": "md-1"})
    assert stored is not None
    assert cipher.decrypt(stored["token"]) == "this login's token"
    assert db["accounts"].count_documents({}) == 1


def test_a_connect_that_loses_the_race_to_another_identity_is_refused(
    db: Database[Doc],
) -> None:
    cipher = CipherRacedByAnotherConnect(db, "md-1", "someone else")
    done = connect(db, cipher, OneAccountNetwork(CREDENTIAL), Login("t"), utcnow())
    assert done == LoginRefused("account md-1 exists for another identity")
    stored = db["accounts"].find_one({"_id": "md-1"})
    assert stored is not None
    assert cipher.decrypt(stored["token"]) == "the other connect's token"

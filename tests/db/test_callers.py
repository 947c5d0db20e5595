"""Who calls the api and run_http: an ADMIN_SECRET_KEY chosen in the API keys' shape
(`sk_<a>_<b>`, as many generated secrets look) is still the admin key. run_http took it until it
began to take API keys too (89b28d8); since then such a key was looked up as an API key and
refused with 401 on run_http and the api."""

from __future__ import annotations

import pytest
from pymongo.database import Database

from common import apikeys
from common.clock import utcnow
from common.db import Doc
from common.entrypoints import auth
from tests.conftest import SettingsFactory

KEY_SHAPED = "sk_live_" + "a1B2c3D4" * 5


def test_an_admin_key_in_the_api_keys_shape_is_the_admin_key(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    settings = make_settings(ADMIN_SECRET_KEY=KEY_SHAPED)
    caller = auth.authenticate_caller(f"Bearer {KEY_SHAPED}", settings, db, utcnow())
    assert (caller.who, caller.accounts, caller.allows("admin")) == ("admin_key", None, True)


def test_an_api_key_is_still_an_api_key_and_a_near_miss_of_the_admin_key_is_refused(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    settings = make_settings(ADMIN_SECRET_KEY=KEY_SHAPED)
    made = apikeys.create(db, "ci", ["posts:read"], utcnow())
    caller = auth.authenticate_caller(f"Bearer {made.secret}", settings, db, utcnow())
    assert (caller.who, caller.allows("admin")) == (f"key:{made.key.id}", False)
    with pytest.raises(auth.AuthError) as refused:
        auth.authenticate_caller(f"Bearer {KEY_SHAPED}x", settings, db, utcnow())
    assert refused.value.status == 401

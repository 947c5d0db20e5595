"""schemathesis against docs/openapi.yaml, the functions served by functions-framework.

Every generated request (valid and invalid, including methods the spec does not allow) must
get a documented status with a body matching the spec, and never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo.database import Database
from schemathesis.specs.openapi.checks import positive_data_acceptance

from devstack.sandbox.control import Sandbox
from devstack.storage import LocalStorage
from tests.conftest import add_account
from tests.functions_fixtures import (
    ADMIN_KEY,
    ROOT,
    RUN_SOURCE,
    STATUS_SOURCE,
    Served,
    function_env,
    serve,
)
from tests.meta_support import meta_env

schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@pytest.fixture(scope="module")
def empty_db(fn_db: Database[Any]) -> Database[Any]:
    # No posts: the real main.py's adapters would call the real Graph API.
    return fn_db


@pytest.fixture(scope="module")
def run_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path, empty_db: Any) -> Iterator[Served]:
    with serve("run_http", RUN_SOURCE, function_env(mongo_uri, fn_db_name), fn_workdir) as s:
        yield s


@pytest.fixture(scope="module")
def status_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    with serve("status", STATUS_SOURCE, function_env(mongo_uri, fn_db_name), fn_workdir) as s:
        yield s


@schema.include(path="/run").parametrize()
@EXAMPLES
def test_run_http_conforms(case: schemathesis.Case[Any], run_fn: Served) -> None:
    response = case.call_and_validate(
        base_url=run_fn.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert response.status_code < 500


@schema.include(path="/status").parametrize()
@EXAMPLES
def test_status_conforms(case: schemathesis.Case[Any], status_fn: Served) -> None:
    response = case.call_and_validate(base_url=status_fn.url)
    assert response.status_code < 500


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str,
    fn_db_name: str,
    fn_workdir: Path,
    empty_db: Any,
    sandbox_server: Sandbox,
    storage_server: LocalStorage,
) -> Iterator[Served]:
    # One account, so generated posts for it reach validation and storage, not only refusals;
    # Meta is the sandbox, so a generated login token is refused by it (a 422), as by Meta; the
    # media bucket is the local emulator, so uploads reach it.
    add_account(empty_db, "fb")
    source = ROOT / "functions" / "api" / "main.py"
    meta = {k: str(v) for k, v in meta_env(sandbox_server).items()}
    env = function_env(
        mongo_uri,
        fn_db_name,
        META_APP_ID="sandbox-app",
        META_APP_SECRET="fuzz",
        **meta,
        **storage_server.settings(),
    )
    with serve("api", source, env, fn_workdir) as s:
        yield s


@schema.auth()
class AdminKey:
    """The admin key on every case but those that leave the credential out on purpose
    (schemathesis then expects a refusal, which a header added to every call would defeat)."""

    def get(self, case: schemathesis.Case[Any], ctx: Any) -> str:
        return ADMIN_KEY

    def set(self, case: schemathesis.Case[Any], data: str, ctx: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@schema.include(path_regex="^/v1/").parametrize()
@EXAMPLES
def test_api_conforms(case: schemathesis.Case[Any], api_fn: Served) -> None:
    # positive_data_acceptance is left out: a well-formed post for an account that does not
    # exist, or at a time already past, is refused by design (400 with its problems).
    response = case.call_and_validate(
        base_url=api_fn.url,
        excluded_checks=[positive_data_acceptance],
    )
    assert response.status_code < 500

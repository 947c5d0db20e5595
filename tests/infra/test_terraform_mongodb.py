"""The MongoDB connection budget (mongodb.tf) held against the functions Terraform deploys and
their defaults: every function with a pool counts, with PyMongo's two monitoring connections
per server, and the defaults fit an Atlas M10 with a margin in both dispatch modes."""

from __future__ import annotations

import re

from tests import tfconfig
from tests.infra.test_terraform_contract import FUNCTIONS

LOCALS = tfconfig.locals_()
# What an M10 allows per node (Atlas "Connection limits and cluster tier").
M10_CONNECTIONS = 1500


def service_default(variable: str, field: str) -> int:
    match = re.search(
        rf"{field} = optional\(number, (\d+)\)", tfconfig.variables()[variable]["type"]
    )
    assert match, (variable, field)
    return int(match.group(1))


def pool(function: str) -> int:
    """MONGO_MAX_POOL_SIZE of one function from its settings entry, at the defaults."""
    expression = FUNCTIONS[function]["mongo_pool"]
    if expression == "${local.run_mongo_pool_size}":
        return tfconfig.local_number("run_mongo_pool_size")
    match = re.fullmatch(r"\$\{var\.(\w+)\.concurrency \+ local\.spare_connections\}", expression)
    assert match, expression
    return service_default(match.group(1), "concurrency") + tfconfig.local_number(
        "spare_connections"
    )


def per_server(functions: list[str]) -> int:
    monitoring = tfconfig.local_number("mongo_monitoring_connections")
    return sum(
        service_default(f"{function}_service", "max_instances") * (pool(function) + monitoring)
        for function in functions
    )


def allowed(max_connections: int) -> int:
    margin = tfconfig.local_number("mongo_connection_margin_percent")
    return max_connections * (100 - margin) // 100


def test_every_deployed_function_counts_with_its_monitoring_connections() -> None:
    assert LOCALS["mongo_connections_per_server"] == (
        "${sum([for key, fn in local.functions : fn.service.max_instances"
        " * (fn.mongo_pool + local.mongo_monitoring_connections)])}"
    )
    # PyMongo: the server monitor and the round-trip-time monitor, outside the pool.
    assert tfconfig.local_number("mongo_monitoring_connections") == 2
    assert tfconfig.local_number("mongo_connection_margin_percent") == 10
    function = tfconfig.resources("google_cloudfunctions2_function")["this"]
    assert (
        "MONGO_MAX_POOL_SIZE = tostring(each.value.mongo_pool)"
        in (tfconfig.single(function, "service_config")["environment_variables"])
    )
    (lifecycle,) = function["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert precondition["condition"] == (
        "${local.mongo_connections_per_server <= local.mongo_connections_allowed}"
    )


def test_the_defaults_fit_an_m10_with_the_margin_in_both_modes() -> None:
    assert tfconfig.variables()["mongo_max_connections"]["default"] == M10_CONNECTIONS
    inline = per_server(["run_tick", "run_http", "status", "api"])
    tasks = per_server(["run_tick", "run_http", "status", "api", "publish"])
    assert (inline, tasks) == (390, 1158)
    assert tasks <= allowed(M10_CONNECTIONS) == 1350


def test_the_count_before_this_check_would_not_have_fitted() -> None:
    # Issue 17: api and monitoring left out, the run functions' 40 for status and the api, and
    # publish at 100 instances: 1,800 counted, 2,040 really, against 1,500.
    monitoring = tfconfig.local_number("mongo_monitoring_connections")
    old = (3 + 2 + 5 + 10) * (40 + monitoring) + 100 * (8 + 2 + monitoring)
    assert old == 2040 > allowed(M10_CONNECTIONS)

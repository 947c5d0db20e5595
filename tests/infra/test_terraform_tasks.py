"""dispatch = "tasks" in Terraform, held against the code: the queue's limits, who may enqueue
and invoke, the settings the publish function and the run functions read, the connections."""

from __future__ import annotations

from common import config
from tests import tfconfig
from tests.infra.test_terraform_contract import settings_read_by_config

TASKS = tfconfig.locals_()


def test_the_queue_has_rate_limits_and_retries_within_cloud_tasks_limits() -> None:
    queue = tfconfig.resources("google_cloud_tasks_queue")["publish"]
    assert queue["count"] == "${local.tasks_enabled ? 1 : 0}"
    limits = tfconfig.single(queue, "rate_limits")
    assert limits["max_dispatches_per_second"] == "${var.tasks_queue.max_dispatches_per_second}"
    # No more in flight than the publish function can serve.
    assert limits["max_concurrent_dispatches"] == (
        "${var.publish_service.max_instances * var.publish_service.concurrency}"
    )
    retry = tfconfig.single(queue, "retry_config")
    assert set(retry) >= {"max_attempts", "min_backoff", "max_backoff", "max_retry_duration"}
    validation = str(tfconfig.variables()["tasks_queue"]["validation"])
    assert "max_dispatches_per_second <= 500" in validation


def test_only_the_tasks_account_invokes_publish_and_it_is_internal() -> None:
    bindings = tfconfig.resources("google_cloud_run_service_iam_member")
    on_publish = {n: b for n, b in bindings.items() if "publish" in str(b["service"])}
    assert set(on_publish) == {"publish_invoker"}
    assert on_publish["publish_invoker"]["member"] == "${google_service_account.tasks[0].member}"
    service = tfconfig.single(
        tfconfig.resources("google_cloudfunctions2_function")["publish"], "service_config"
    )
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"


def test_enqueuing_is_granted_on_the_queue_and_acting_as_the_tasks_account_only() -> None:
    enqueuer = tfconfig.resources("google_cloud_tasks_queue_iam_member")["enqueuer"]
    assert enqueuer["role"] == "roles/cloudtasks.enqueuer"
    assert "google_cloud_tasks_queue.publish[0].name" in enqueuer["name"]
    act_as = tfconfig.resources("google_service_account_iam_member")["act_as_tasks"]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["service_account_id"] == "${google_service_account.tasks[0].name}"
    assert set(TASKS["task_creators"]) == {"run_tick", "run_http", "publish", "api"}
    # No Cloud Tasks role on the project.
    project_roles = {g["role"] for g in tfconfig.resources("google_project_iam_member").values()}
    assert not [r for r in project_roles if "cloudtasks" in str(r)]


def test_the_tasks_settings_terraform_sets_are_the_ones_the_code_requires() -> None:
    environment = tfconfig.map_keys(TASKS["tasks_environment"])
    assert environment <= settings_read_by_config()
    assert set(config._TASKS_REQUIRED) <= environment
    assert "DISPATCH" in environment
    # Tasks POST to the URL their tokens name as audience.
    assert TASKS["tasks_environment"]["TASKS_AUDIENCE"] == "${local.publish_url}"
    assert TASKS["tasks_environment"]["TASKS_TARGET_URL"] == "${local.publish_url}"
    assert "local.tasks_environment" in str(TASKS["run_environment"])


def test_publish_instances_and_mongodb_pool_are_set_together() -> None:
    publish = tfconfig.resources("google_cloudfunctions2_function")["publish"]
    service = tfconfig.single(publish, "service_config")
    assert "MONGO_MAX_POOL_SIZE" in tfconfig.map_keys(service["environment_variables"])
    assert "MONGO_MAX_POOL_SIZE" in settings_read_by_config()
    (lifecycle,) = publish["lifecycle"]
    condition = str(lifecycle["precondition"])
    assert "local.mongo_connections <= var.mongo_max_connections" in condition
    connections = str(TASKS["mongo_connections"])
    assert "var.publish_service.max_instances * local.publish_mongo_pool_size" in connections

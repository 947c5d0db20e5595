"""dispatch = "tasks" in Terraform, held against the code: the queue's limits, who may enqueue
and invoke, the URL and audience of the tasks, the settings the publish function and the run
functions read."""

from __future__ import annotations

import re

from common import config
from tests import tfconfig
from tests.infra.test_terraform_contract import FUNCTIONS, settings_read_by_config

TASKS = tfconfig.locals_()


def test_the_queue_exists_in_both_dispatch_modes() -> None:
    # A deleted queue's name cannot be reused for days: switching dispatch must not delete it.
    queue = tfconfig.resources("google_cloud_tasks_queue")["publish"]
    assert "count" not in queue and "for_each" not in queue
    moved = [m for m in tfconfig.configuration()["moved"] if "tasks_queue" in m["from"]]
    assert moved == [
        {
            "from": "${google_cloud_tasks_queue.publish[0]}",
            "to": "${google_cloud_tasks_queue.publish}",
        }
    ]


def test_the_queue_has_rate_limits_and_retries_within_cloud_tasks_limits() -> None:
    queue = tfconfig.resources("google_cloud_tasks_queue")["publish"]
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
    assert FUNCTIONS["publish"]["ingress"] == "ALLOW_INTERNAL_ONLY"
    # Not one of the public functions, whatever public_access says.
    assert "publish" not in TASKS["public_access"]


def test_publish_trusts_the_invoker_check_and_terraform_asserts_it_is_on() -> None:
    assert TASKS["publish_environment"] == {"TASKS_INVOKER_CHECK": "on"}
    assert "local.publish_environment" in FUNCTIONS["publish"]["environment"]
    assert "TASKS_INVOKER_CHECK" in settings_read_by_config()
    # The run functions create tasks but never verify one.
    for function in ("run_tick", "run_http"):
        assert "publish_environment" not in str(FUNCTIONS[function]["environment"])
    readback = tfconfig.data_sources("google_cloud_run_v2_service")["publish"]
    (lifecycle,) = readback["lifecycle"]
    conditions = [p["condition"] for p in lifecycle["postcondition"]]
    assert "${!self.invoker_iam_disabled}" in conditions
    assert "${contains(self.urls, local.publish_url)}" in conditions


def test_tasks_post_to_publish_deterministic_run_app_url_which_is_their_audience() -> None:
    # https://SERVICE-PROJECT_NUMBER.REGION.run.app (Cloud Run "HTTPS request" page): internal
    # ingress admits Cloud Tasks on the run.app URL, and the URL is known before publish is.
    assert TASKS["publish_url"] == (
        "https://${local.publish_function_name}-${local.project_number}.${var.region}.run.app"
    )
    assert TASKS["project_number"] == "${data.google_project.this.number}"
    assert "cloudfunctions.net" not in str(TASKS)
    # The DNS label (service name, a dash, a project number of up to 12 digits... here at most
    # 20 + 8 + 1 + 12 characters) stays within the 63 Cloud Run allows for it.
    prefix = re.search(
        r"\{(\d+),(\d+)\}", tfconfig.variables()["name_prefix"]["validation"][0]["condition"]
    )
    assert prefix
    longest_prefix = int(prefix.group(2)) + 2
    assert longest_prefix + len("-publish") + 1 + 12 <= 63


def test_enqueuing_is_granted_on_the_queue_and_acting_as_the_tasks_account_only() -> None:
    enqueuer = tfconfig.resources("google_cloud_tasks_queue_iam_member")["enqueuer"]
    assert enqueuer["role"] == "roles/cloudtasks.enqueuer"
    assert enqueuer["name"] == "${google_cloud_tasks_queue.publish.name}"
    act_as = tfconfig.resources("google_service_account_iam_member")["act_as_tasks"]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["service_account_id"] == "${google_service_account.tasks[0].name}"
    assert set(TASKS["task_creators"]) == {"run_tick", "run_http", "api", "publish"}
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


def test_every_task_waits_for_publish_as_long_as_publish_may_take() -> None:
    environment = TASKS["tasks_environment"]
    assert environment["TASKS_DISPATCH_DEADLINE_SECONDS"] == (
        "${tostring(var.publish_service.timeout_seconds)}"
    )
    # Cloud Tasks allows 15 s to 30 min; publish's timeout stays within it.
    assert tfconfig.timeout_range("publish") == (120, 1800)
    assert config.MAX_DISPATCH_DEADLINE_SECONDS == 1800


def test_the_run_functions_switch_to_tasks_only_after_their_queue_grants() -> None:
    function = tfconfig.resources("google_cloudfunctions2_function")["this"]
    after = str(function["depends_on"])
    assert "google_cloud_tasks_queue_iam_member.enqueuer" in after
    assert "google_service_account_iam_member.act_as_tasks" in after

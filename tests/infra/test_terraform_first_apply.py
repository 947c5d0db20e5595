"""What a first `terraform apply` on a fresh project needs, read from the HCL: ordering after
the APIs and the waits, every referenced secret given a documented version step, alert
windows within Cloud Monitoring's limits, and the operations files (backend, lock file)."""

from __future__ import annotations

import json
import re
from functools import cache

import hcl2
import pytest

from tests import tfconfig

README = tfconfig.TERRAFORM_DIR / "README.md"
APIS = "google_project_service.this"
# Longest window Cloud Monitoring accepts for a missing-data condition: 23.5 hours.
MAX_WINDOW_SECONDS = 23 * 3600 + 1800
_REFERENCE = re.compile(
    r"\b(data\.[a-z0-9_]+\.[a-z0-9_]+|(?:google|time|terraform)_[a-z0-9_]+\.[a-z0-9_]+|local\.[a-z0-9_]+)"
)
# Which API each kind of resource is served by.
API_OF_TYPE = {
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_billing_": "billingbudgets.googleapis.com",
    "google_cloud_run_": "run.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_cloud_tasks_": "cloudtasks.googleapis.com",
    "google_cloudfunctions2_": "cloudfunctions.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_project": "cloudresourcemanager.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_storage_": "storage.googleapis.com",
}


@cache
def nodes() -> dict[str, tfconfig.Block]:
    """Every resource ("type.name") and data source ("data.type.name") with its body."""
    found = {f"{t}.{n}": body for t, n, body in tfconfig.all_resources()}
    for block in tfconfig.configuration().get("data", []):
        for type_name, named in block.items():
            for name, body in named.items():
                found[f"data.{type_name}.{name}"] = body
    return found


def direct_references(value: object) -> set[str]:
    """Resources and data sources an expression names, through any locals it uses."""
    found: set[str] = set()
    for ref in _REFERENCE.findall(json.dumps(value)):
        if ref.startswith("local."):
            found |= direct_references(tfconfig.locals_()[ref.removeprefix("local.")])
        elif ref in nodes():
            found.add(ref)
    return found


@cache
def ordered_after(node: str) -> frozenset[str]:
    """Everything Terraform creates before `node` (references and depends_on, transitively)."""
    seen: set[str] = set()
    pending = list(direct_references(nodes()[node]))
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(direct_references(nodes()[current]))
    return frozenset(seen)


def enabled_apis() -> set[str]:
    return tfconfig.quoted_strings(tfconfig.locals_()["services"])


def test_the_dependency_reader_sees_references_and_depends_on() -> None:
    # Guards the reader: a reference through a local, a depends_on, and a transitive step.
    assert "google_pubsub_topic.events" in ordered_after("google_cloudfunctions2_function.this")
    assert "time_sleep.builder_roles" in ordered_after("google_cloudfunctions2_function.this")
    assert "google_project_iam_member.builder_logs" in ordered_after(
        "google_cloudfunctions2_function.this"
    )
    assert APIS not in ordered_after(APIS)


@pytest.mark.parametrize(
    "node", sorted(n for n in nodes() if "google_" in n and not n.startswith(APIS))
)
def test_every_google_resource_is_created_after_the_apis(node: str) -> None:
    assert APIS in ordered_after(node)


@pytest.mark.parametrize("node", sorted(n for n in nodes() if "google_" in n))
def test_the_api_serving_each_resource_is_enabled(node: str) -> None:
    type_name = node.removeprefix("data.").split(".")[0]
    if type_name == "google_project_service":
        return
    prefixes = [p for p in API_OF_TYPE if type_name.startswith(p)]
    assert prefixes, f"no API known for {type_name}: add it to API_OF_TYPE"
    assert API_OF_TYPE[max(prefixes, key=len)] in enabled_apis()


def test_functions_get_the_apis_their_build_and_trigger_use() -> None:
    needed = {
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "run.googleapis.com",
        "eventarc.googleapis.com",
        "pubsub.googleapis.com",
        "cloudresourcemanager.googleapis.com",
    }
    assert needed <= enabled_apis()
    # Terraform enables everything else through the Service Usage API, so it cannot enable that
    # one: scripts/preflight.sh checks it instead.
    assert "serviceusage.googleapis.com" not in enabled_apis()


def test_the_event_triggered_function_waits_for_the_eventarc_agent() -> None:
    wait = tfconfig.resources("time_sleep")["eventarc_agent"]
    assert wait["depends_on"] == [f"${{{APIS}}}"]
    assert wait["create_duration"] == "${var.eventarc_agent_wait_seconds}s"
    assert tfconfig.variables()["eventarc_agent_wait_seconds"]["default"] >= 120
    # run_tick's trigger is a dynamic block of the one function resource.
    function = tfconfig.resources("google_cloudfunctions2_function")["this"]
    assert "event_trigger" in json.dumps(function["dynamic"])
    assert "time_sleep.eventarc_agent" in ordered_after("google_cloudfunctions2_function.this")


@pytest.mark.parametrize("function", sorted(tfconfig.resources("google_cloudfunctions2_function")))
def test_each_function_is_created_after_its_secrets_access_and_every_builder_grant(
    function: str,
) -> None:
    after = ordered_after(f"google_cloudfunctions2_function.{function}")
    assert "google_secret_manager_secret_iam_member.function" in after
    assert "google_secret_manager_secret.this" in after
    assert "google_artifact_registry_repository.functions" in after
    assert "time_sleep.builder_roles" in after
    builder_grants = {
        node
        for node, body in nodes().items()
        if body.get("member") == "${google_service_account.builder.member}"
    }
    assert len(builder_grants) >= 4
    assert builder_grants <= ordered_after("time_sleep.builder_roles")


def test_every_alert_waits_for_every_log_metric() -> None:
    assert "google_logging_metric.this" in ordered_after("time_sleep.log_metrics")
    # Through its triggers, so a metric added by a later apply replaces the wait (without them
    # the wait runs on the first apply only and a new metric's alert fails "Cannot find metric").
    triggers = tfconfig.resources("time_sleep")["log_metrics"]["triggers"]
    assert triggers["metrics"] == (
        '${join(",", sort([for metric in google_logging_metric.this : metric.id]))}'
    )
    for name in tfconfig.resources("google_monitoring_alert_policy"):
        assert "time_sleep.log_metrics" in ordered_after(f"google_monitoring_alert_policy.{name}")


def _bounds(variable: str) -> tuple[int, int]:
    (validation,) = tfconfig.variables()[variable]["validation"]
    condition = validation["condition"]
    low = re.search(rf"var\.{variable} >= (\d+)", condition)
    high = re.search(rf"var\.{variable} <= (\d+)", condition)
    assert low and high, condition
    return int(low.group(1)), int(high.group(1))


# Every alert policy is one instance of this resource, configured by its entry in
# local.base_alerts or local.publish_alerts (monitoring.tf).
POLICY = tfconfig.resources("google_monitoring_alert_policy")["this"]
ALERTS = tfconfig.locals_()["base_alerts"]
PUBLISH_ALERTS = tfconfig.locals_()["publish_alerts"]


def _conditions(alert: str) -> list[tfconfig.Block]:
    """An alert's conditions as deployed: each over local.alert_condition. posts_failed builds
    its list with concat(), so python-hcl2 keeps it as one expression: its conditions name a
    metric and a display name, nothing else."""
    defaults = tfconfig.locals_()["alert_condition"]
    conditions = (ALERTS | PUBLISH_ALERTS)[alert]["conditions"]
    if isinstance(conditions, str):
        assert set(re.findall(r"(\w+) = ", conditions)) == {"metric", "display_name"}
        return [{**defaults, "metric": m} for m in re.findall(r'metric = "(\w+)"', conditions)]
    return [{**defaults, **condition} for condition in conditions]


def test_the_dead_mans_switch_window_stays_within_googles_limits() -> None:
    low, high = _bounds("dead_mans_switch_minutes")
    assert low * 60 >= 120, "Cloud Monitoring wants at least two minutes"
    assert high * 60 <= MAX_WINDOW_SECONDS
    assert low <= tfconfig.variables()["dead_mans_switch_minutes"]["default"] <= high


def test_the_dead_mans_switch_fires_on_zeros_and_on_missing_data() -> None:
    (condition,) = _conditions("no_successful_run")
    assert condition["metric"] == "tick_runs_ok"
    assert (condition["comparison"], condition["threshold"]) == ("COMPARISON_LT", 1)
    assert condition["missing_data"] == "EVALUATION_MISSING_DATA_ACTIVE"
    assert condition["duration"] == "${var.dead_mans_switch_minutes * 60}s"
    # Summed across revisions, so a redeploy's new series does not count as a gap.
    assert (condition["aligner"], condition["reducer"]) == ("ALIGN_SUM", "REDUCE_SUM")
    # Longer than a run that uses its whole timeout plus the tick after it: a healthy system
    # may go that long between two ok lines.
    (precondition,) = POLICY["lifecycle"][0]["precondition"]
    assert precondition["condition"] == (
        '${each.key != "no_successful_run" || var.dead_mans_switch_minutes * 60'
        " > var.run_tick_service.timeout_seconds + local.tick_interval_seconds}"
    )
    default_window = tfconfig.variables()["dead_mans_switch_minutes"]["default"] * 60
    assert default_window > _timeout_default("run_tick_service") + 60


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("alert", sorted(ALERTS | PUBLISH_ALERTS))
def test_every_alert_window_is_whole_minutes_within_limits(alert: str) -> None:
    for condition in _conditions(alert):
        duration = condition["duration"]
        if "var.dead_mans_switch_minutes" in duration:
            duration = f"{_bounds('dead_mans_switch_minutes')[1] * 60}s"
        assert _seconds(duration) % 60 == 0 and _seconds(duration) <= MAX_WINDOW_SECONDS
        alignment = _seconds(condition["period"])
        assert 60 <= alignment <= MAX_WINDOW_SECONDS and alignment % 60 == 0
    assert _seconds(tfconfig.single(POLICY, "alert_strategy")["auto_close"]) >= 1800


def _timeout_default(variable: str) -> int:
    match = re.search(
        r"timeout_seconds = optional\(number, (\d+)\)", tfconfig.variables()[variable]["type"]
    )
    assert match, variable
    return int(match.group(1))


RUN_METRICS = {"runs_failed", "runs_with_failed_posts", "tick_runs_ok"}
LOG_METRICS = tfconfig.locals_()["base_log_metrics"]
# Conditional (tasks mode only), so python-hcl2 keeps it as one expression.
PUBLISH_LOG_METRICS = str(tfconfig.locals_()["publish_log_metrics"])


def test_every_log_metric_is_one_instance_named_for_its_key() -> None:
    metric = tfconfig.resources("google_logging_metric")["this"]
    assert metric["for_each"] == "${local.log_metrics}"
    assert metric["name"] == "${var.name_prefix}_${each.key}"
    assert tfconfig.locals_()["log_metrics"] == (
        "${merge(local.base_log_metrics, local.publish_log_metrics)}"
    )
    assert set(LOG_METRICS) == RUN_METRICS | {"api_server_errors"}
    assert PUBLISH_LOG_METRICS.startswith("${local.tasks_enabled ? {")
    for name in ("publish_refused", "publish_server_errors", "publish_posts_failed"):
        assert f"{name} = {{" in PUBLISH_LOG_METRICS


def test_failed_runs_count_only_the_applications_own_log_lines() -> None:
    application_logs = str(tfconfig.locals_()["application_logs"])
    assert "run.googleapis.com%2Fstdout" in application_logs
    assert "run.googleapis.com%2Fstderr" in application_logs
    assert "requests" not in application_logs
    service_filter = str(tfconfig.locals_()["run_services_filter"])
    assert "local.application_logs" in service_filter and "logName" not in service_filter
    for name in RUN_METRICS:
        assert LOG_METRICS[name]["filter"].startswith(
            ("${local.run_services_filter}", "${local.run_finished_filter}")
        )
    assert str(tfconfig.locals_()["run_finished_filter"]).startswith("${local.run_services_filter}")
    published = PUBLISH_LOG_METRICS[PUBLISH_LOG_METRICS.index("publish_posts_failed = {") :]
    assert "local.application_logs" in published and "logName" not in published
    assert 'jsonPayload.message=\\"task handled\\"' in published


def test_answer_metrics_count_from_cloud_runs_request_log() -> None:
    request_filter = str(tfconfig.locals_()["request_log_filter"])
    assert "run.googleapis.com%2Frequests" in request_filter
    api = LOG_METRICS["api_server_errors"]["filter"]
    assert api == '${local.request_log_filter["api"]} AND httpRequest.status>=500'
    # 429 is Cloud Run's back-pressure, retried by design: not a refusal.
    refused = (
        '${local.request_log_filter["publish"]} AND httpRequest.status>=400'
        " AND httpRequest.status<500 AND httpRequest.status!=429"
    )
    assert 'publish_refused = {description = "' in PUBLISH_LOG_METRICS
    assert f'filter = "{refused}"' in PUBLISH_LOG_METRICS
    (condition,) = ALERTS["api_server_errors"]["conditions"]
    assert condition["metric"] == "api_server_errors"


def test_every_alert_is_one_instance_counting_five_minute_sums_by_default() -> None:
    assert POLICY["for_each"] == "${local.alerts}"
    assert tfconfig.locals_()["alerts"] == (
        "${merge(local.base_alerts,"
        " {for key, alert in local.publish_alerts : key => alert if local.tasks_enabled})}"
    )
    defaults = tfconfig.locals_()["alert_condition"]
    assert (defaults["comparison"], defaults["threshold"], defaults["duration"]) == (
        "COMPARISON_GT",
        0,
        "0s",
    )
    assert (defaults["period"], defaults["aligner"], defaults["reducer"]) == (
        "300s",
        "ALIGN_SUM",
        "REDUCE_SUM",
    )
    (dynamic,) = POLICY["dynamic"]
    assert dynamic["conditions"]["for_each"] == (
        "${[for condition in each.value.conditions : merge(local.alert_condition, condition)]}"
    )
    content = tfconfig.single(dynamic["conditions"], "content")
    threshold = tfconfig.single(content, "condition_threshold")
    assert "google_logging_metric.this[conditions.value.metric].name" in threshold["filter"]
    counted = {
        condition["metric"] for alert in ALERTS | PUBLISH_ALERTS for condition in _conditions(alert)
    }
    assert counted == set(LOG_METRICS) | {
        "publish_refused",
        "publish_server_errors",
        "publish_posts_failed",
        None,
    }


def test_tasks_mode_has_its_own_alerts_on_publish_and_the_queue() -> None:
    assert set(PUBLISH_ALERTS) == {"publish_refused", "publish_server_errors", "queue"}
    queue = json.dumps(_conditions("queue"))
    assert "cloudtasks.googleapis.com/queue/task_attempt_count" in queue
    assert "cloudtasks.googleapis.com/queue/task_attempt_delays" in queue
    # Failed or unknown posts alert in both modes: the publish function's as a second condition.
    conditions = ALERTS["posts_failed"]["conditions"]
    assert conditions.startswith('${concat([{metric = "runs_with_failed_posts"')
    assert 'local.tasks_enabled ? [{metric = "publish_posts_failed"' in conditions


def test_status_is_watched_from_outside_by_an_uptime_check() -> None:
    check = tfconfig.resources("google_monitoring_uptime_check_config")["status"]
    resource = tfconfig.single(check, "monitored_resource")
    assert resource["type"] == "uptime_url"
    assert 'google_cloudfunctions2_function.this["status"]' in resource["labels"]["host"]
    (condition,) = _conditions("status_down")
    assert "uptime_check/check_passed" in condition["filter"]
    assert "google_monitoring_uptime_check_config.status.uptime_check_id" in condition["filter"]


def test_the_billing_budget_is_opt_in_and_alerts_on_forecast_too() -> None:
    assert tfconfig.variables()["billing_budget"]["default"] is None
    budget = tfconfig.resources("google_billing_budget")["this"]
    assert budget["count"] == "${var.billing_budget == null ? 0 : 1}"
    assert budget["provider"] == "${google.billing}"
    rules = json.dumps(budget)
    assert "FORECASTED_SPEND" in rules
    assert "projects/${local.project_number}" in rules


def _readme_secret_steps() -> set[str]:
    return set(re.findall(r"gcloud secrets versions add \$P-([a-z-]+) ", README.read_text()))


def test_every_secret_terraform_can_reference_has_a_documented_version_step() -> None:
    created = tfconfig.quoted_names(tfconfig.locals_()["secret_names"])
    ids = {name.lower().replace("_", "-") for name in created}
    assert "mongo-uri-readonly" in ids and "meta-app-secret" in ids
    assert ids <= _readme_secret_steps()


def test_the_walkthrough_adds_secret_values_between_the_two_applies() -> None:
    text = README.read_text()
    walkthrough = text[text.index("## Deploy walkthrough") :]
    steps = [
        "preflight.sh --skip-secrets",
        "terraform apply -target=google_secret_manager_secret.this",
        "gcloud secrets versions add",
        'scripts/preflight.sh "$PROJECT"',
        "terraform apply\n",
        "smoke.sh",
    ]
    positions = [walkthrough.find(step) for step in steps]
    assert -1 not in positions, dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions)
    assert "optional" not in walkthrough[: positions[1]].lower()


def test_the_read_only_database_user_is_documented() -> None:
    text = README.read_text()
    assert "## Read-only database user" in text
    section = text[text.index("## Read-only database user") :]
    assert "read@" in section or '"read"' in section


def test_the_remote_state_example_is_a_versioned_gcs_backend() -> None:
    example = tfconfig.TERRAFORM_DIR / "backend.tf.example"
    with example.open() as handle:
        parsed = hcl2.load(handle)
    (terraform,) = parsed["terraform"]
    assert "gcs" in json.dumps(terraform["backend"])
    assert "--versioning" in example.read_text()


def test_the_provider_lock_file_is_committed_or_its_generation_documented() -> None:
    lock = tfconfig.TERRAFORM_DIR / ".terraform.lock.hcl"
    if lock.exists():
        text = lock.read_text()
        for provider in ("hashicorp/google", "hashicorp/archive", "hashicorp/time"):
            assert f'provider "registry.terraform.io/{provider}"' in text
    else:
        text = README.read_text()
        assert "terraform providers lock" in text
        for platform in ("linux_amd64", "darwin_arm64", "windows_amd64"):
            assert f"-platform={platform}" in text

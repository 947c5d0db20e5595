"""Terraform held against the code: settings, secrets, entry points and the tick's event type."""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.util
import inspect
import json
import re
from pathlib import Path

import functions_framework
import pytest
from functions_framework import _function_registry

from common import config, db
from common.config import ConfigError, load_settings
from common.entrypoints import tick
from tests import tfconfig

# Every function is one instance of this resource, configured by its local.function_settings
# entry (functions.tf).
FUNCTION = tfconfig.resources("google_cloudfunctions2_function")["this"]
SERVICE = tfconfig.single(FUNCTION, "service_config")
FUNCTIONS = tfconfig.locals_()["function_settings"]
# Read by functions-framework's gunicorn server, not by common/config.py.
PLATFORM_VARIABLES = {"THREADS"}
# Hidden from repr() but never deployed: the path of a key file that stands in for IAM signBlob
# in the local stack (deployed functions sign media URLs through IAM, common/storage.py).
LOCAL_ONLY_SECRETS = {"MEDIA_SIGNING_KEY_FILE"}
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def settings_read_by_config() -> set[str]:
    """Every environment variable common/config.py reads: the keys of its name -> attribute
    tables and the names it reads directly (env.get("X") / env["X"])."""
    tree = ast.parse(Path(inspect.getfile(config)).read_text())
    candidates: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            candidates.extend(node.keys)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and node.args:
                candidates.append(node.args[0])
        elif isinstance(node, ast.Subscript):
            candidates.append(node.slice)
    return {
        c.value
        for c in candidates
        if isinstance(c, ast.Constant) and isinstance(c.value, str) and _ENV_NAME.match(c.value)
    }


def secret_settings() -> set[str]:
    """The settings Settings keeps out of repr() (those are the secrets), less the local-only
    ones."""
    hidden = {f.name for f in dataclasses.fields(config.Settings) if not f.repr}
    names = settings_read_by_config()
    found = {n for n in names if n.lower() in hidden or f"{n.lower()}s" in hidden}
    assert len(found) == len(hidden), f"cannot map every secret field to a variable: {hidden}"
    assert found >= LOCAL_ONLY_SECRETS
    return found - LOCAL_ONLY_SECRETS


def required_settings() -> set[str]:
    with pytest.raises(ConfigError) as error:
        load_settings({})
    return {n for n in settings_read_by_config() if f"{n} is required" in str(error.value)}


def plain_environment(function: str) -> set[str]:
    """The function's own settings, plus what the resource adds to every function (THREADS,
    MONGO_MAX_POOL_SIZE) and to those with a run budget reserve (RUN_BUDGET_SECONDS)."""
    common = SERVICE["environment_variables"]
    assert common.startswith("${merge(each.value.environment, {THREADS = ")
    added = {"THREADS", "MONGO_MAX_POOL_SIZE"}
    if FUNCTIONS[function]["budget_reserve"] is not None:
        assert "each.value.budget_reserve == null ? {} : {RUN_BUDGET_SECONDS = " in common
        added.add("RUN_BUDGET_SECONDS")
    return tfconfig.map_keys(FUNCTIONS[function]["environment"]) | added


def secret_mapping(
    function: str,
    meta_app_secret_enabled: bool = True,
    oidc_enabled: bool = True,
    threads_app_enabled: bool = True,
) -> dict[str, str]:
    """Environment variable -> secret name for one function, as local.function_secrets builds
    it (the required secrets, plus META_APP_SECRET for its readers when enabled, and the web
    app's OIDC_CLIENT_SECRET when Google Sign-In is on, and THREADS_APP_SECRET with its app id)."""
    (dynamic,) = SERVICE["dynamic"]
    block = dynamic["secret_environment_variables"]
    assert block["for_each"] == "${local.function_secrets[each.key]}"
    content = tfconfig.single(block, "content")
    # The key is the map's key (the variable the code reads), the secret the map's value.
    assert content["key"] == "${secret_environment_variables.key}"
    assert "secret_environment_variables.value" in content["secret"]
    mapping = dict(tfconfig.locals_()["required_function_secrets"][function])
    if meta_app_secret_enabled and function in tfconfig.locals_()["meta_app_secret_readers"]:
        mapping["META_APP_SECRET"] = "META_APP_SECRET"
    if oidc_enabled and function == "web":
        mapping["OIDC_CLIENT_SECRET"] = "OIDC_CLIENT_SECRET"
    if threads_app_enabled and function == "web":
        mapping["THREADS_APP_SECRET"] = "THREADS_APP_SECRET"
    return mapping


def secret_environment(function: str) -> set[str]:
    return set(secret_mapping(function))


def source_directory(function: str) -> Path:
    """functions/<dir> of the archive the function's storage_source object is built from."""
    build = tfconfig.single(FUNCTION, "build_config")
    storage = tfconfig.single(tfconfig.single(build, "source"), "storage_source")
    assert storage["object"] == (
        "${google_storage_bucket_object.source[local.function_sources[each.key]].name}"
    )
    directory = tfconfig.locals_()["function_sources"][function]
    archive = tfconfig.data_sources("archive_file")["source"]
    return tfconfig.module_path(archive["source_dir"].replace("${each.key}", directory))


def test_the_run_functions_pool_is_the_codes_own_default() -> None:
    # The connection check counts MONGO_MAX_POOL_SIZE, so Terraform sets it on every function;
    # for the run functions it is the size the code would pick itself.
    client = db._new_client(load_settings({"MONGO_URI": "mongodb://127.0.0.1:1/"}))
    try:
        assert (
            tfconfig.local_number("run_mongo_pool_size")
            == client.options.pool_options.max_pool_size
        )
    finally:
        client.close()
    for function in ("run_tick", "run_http"):
        assert FUNCTIONS[function]["mongo_pool"] == "${local.run_mongo_pool_size}"
    for function in ("status", "api", "publish"):
        concurrency = f"var.{function}_service.concurrency"
        assert FUNCTIONS[function]["mongo_pool"] == f"${{{concurrency} + local.spare_connections}}"


def test_the_functions_are_deployed_publish_only_with_tasks_dispatch() -> None:
    assert set(FUNCTIONS) == {"run_tick", "run_http", "status", "api", "publish", "web"}
    assert FUNCTION["for_each"] == "${local.functions}"
    functions = tfconfig.locals_()["functions"]
    assert "if contains(keys(local.function_names), key)" in functions
    names = tfconfig.locals_()["function_names"]
    assert "local.tasks_enabled ? {publish = local.publish_function_name} : {}" in names
    assert set(tfconfig.locals_()["function_sources"]) == set(FUNCTIONS)
    assert tfconfig.single(FUNCTION, "build_config")["runtime"] == "python313"


def test_config_reader_sees_the_settings_the_design_names() -> None:
    # Guards the AST walk above: it must find both table-driven and directly read names.
    assert {"MONGO_URI", "RUN_BUDGET_SECONDS", "TOKEN_ENCRYPTION_KEY"} <= settings_read_by_config()
    assert secret_settings() == {
        "MONGO_URI",
        "JWT_SECRET",
        "ADMIN_SECRET_KEY",
        "TOKEN_ENCRYPTION_KEY",
        "META_APP_SECRET",
        "OIDC_CLIENT_SECRET",
        "THREADS_APP_SECRET",
    }
    assert required_settings() == {"MONGO_URI"}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_variable_terraform_sets_is_read_by_the_code(function: str) -> None:
    unknown = plain_environment(function) - settings_read_by_config() - PLATFORM_VARIABLES
    assert unknown == set()
    assert secret_environment(function) <= secret_settings()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_secrets_come_only_from_secret_manager(function: str) -> None:
    assert plain_environment(function) & secret_settings() == set()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_required_setting_is_provided(function: str) -> None:
    provided = plain_environment(function) | secret_environment(function)
    assert required_settings() <= provided


@pytest.mark.parametrize("function", ["run_tick", "run_http"])
def test_run_functions_get_the_production_settings(function: str) -> None:
    provided = plain_environment(function) | secret_environment(function)
    wanted = {"RUN_BUDGET_SECONDS", "LOCK_TTL_SECONDS", "GOOGLE_CLOUD_PROJECT", "EVENTS_TOPIC"}
    assert wanted <= provided
    # Posting needs the token key (and the app secret when set); the tick path needs no admin
    # credentials.
    assert {"TOKEN_ENCRYPTION_KEY", "META_APP_SECRET"} <= secret_environment(function)
    assert ("ADMIN_SECRET_KEY" in secret_environment(function)) == (function == "run_http")


def test_events_topic_is_set_only_when_the_topic_exists() -> None:
    expression = tfconfig.locals_()["run_environment"]
    assert "var.enable_events_topic ? {EVENTS_TOPIC = google_pubsub_topic.events[0].name}" in (
        expression
    )


def test_every_secret_the_code_reads_is_created_and_none_has_a_value_in_terraform() -> None:
    created = tfconfig.quoted_names(tfconfig.locals_()["secret_names"])
    # MONGO_URI_READONLY is the status function's MONGO_URI (a read-only database user).
    assert created == secret_settings() | {"MONGO_URI_READONLY"}
    used = set().union(*(set(secret_mapping(f).values()) for f in FUNCTIONS))
    assert used == created
    types = {type_name for type_name, _, _ in tfconfig.all_resources()}
    assert "google_secret_manager_secret_version" not in types


def test_meta_app_secret_always_exists_and_is_referenced_only_when_set() -> None:
    # A referenced secret without a version stops the deploy, and this one is optional: it
    # exists in both positions of the switch, so turning it on is "add a version, apply", and
    # turning it off deletes no protected secret.
    assert tfconfig.variables()["meta_app_secret_enabled"]["default"] is False
    assert "META_APP_SECRET" in tfconfig.quoted_names(tfconfig.locals_()["secret_names"])
    assert "var.meta_app_secret_enabled" not in tfconfig.locals_()["secret_names"]
    assert (
        "var.meta_app_secret_enabled && contains(local.meta_app_secret_readers, fn)"
        in (tfconfig.locals_()["function_secrets"])
    )
    for function in FUNCTIONS:
        assert "META_APP_SECRET" not in secret_mapping(function, meta_app_secret_enabled=False)


def test_status_never_receives_the_read_write_database_uri() -> None:
    # status is public: its MONGO_URI is the read-only user's connection string, and its
    # service account may read that secret and no other.
    assert secret_mapping("status") == {"MONGO_URI": "MONGO_URI_READONLY"}
    assert "MONGO_URI" not in plain_environment("status")
    assert "local.required_function_secrets" in tfconfig.locals_()["function_secrets"]
    assert "for secret in distinct(values(secrets))" in tfconfig.locals_()["secret_access"]
    for function in ("run_tick", "run_http"):
        assert secret_mapping(function)["MONGO_URI"] == "MONGO_URI"
        assert "MONGO_URI_READONLY" not in secret_mapping(function).values()


def test_each_function_may_read_only_its_own_secrets() -> None:
    access = tfconfig.resources("google_secret_manager_secret_iam_member")["function"]
    assert access["for_each"] == "${local.secret_access}"
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert access["member"] == "${google_service_account.function[each.value.fn].member}"
    assert SERVICE["service_account_email"] == "${google_service_account.function[each.key].email}"
    accounts = tfconfig.resources("google_service_account")["function"]
    assert accounts["for_each"] == "${local.function_names}"


def _timeout_default(variable: str) -> int:
    match = re.search(
        r"timeout_seconds = optional\(number, (\d+)\)", tfconfig.variables()[variable]["type"]
    )
    assert match, variable
    return int(match.group(1))


@pytest.mark.parametrize(
    ("function", "variable"), [("run_tick", "run_tick_service"), ("run_http", "run_http_service")]
)
def test_run_budget_is_the_timeout_minus_room_for_the_slowest_platform_call(
    function: str, variable: str
) -> None:
    settings = FUNCTIONS[function]
    assert settings["service"] == f"${{var.{variable}}}"
    assert settings["budget_reserve"] == "${local.run_budget_reserve_seconds}"
    derived = "each.value.service.timeout_seconds - each.value.budget_reserve"
    assert f"RUN_BUDGET_SECONDS = tostring({derived})" in SERVICE["environment_variables"]
    assert SERVICE["timeout_seconds"] == "${each.value.service.timeout_seconds}"
    reserve = tfconfig.local_number("run_budget_reserve_seconds")
    slowest_call = tfconfig.local_number("meta_connect_timeout_seconds") + tfconfig.local_number(
        "meta_read_timeout_seconds"
    )
    assert reserve > slowest_call
    assert tfconfig.local_number("meta_read_timeout_seconds") >= 30
    budget = _timeout_default(variable) - reserve
    settings = load_settings(
        {"MONGO_URI": "mongodb://127.0.0.1:1/", "RUN_BUDGET_SECONDS": str(budget)}
    )
    assert 0 < settings.run_budget_seconds < _timeout_default(variable)
    # The shortest timeout the variable accepts still leaves a positive budget.
    shortest, _ = tfconfig.timeout_range(function)
    assert shortest - reserve > 0


def test_event_functions_stay_within_the_540_second_limit() -> None:
    assert tfconfig.timeout_range("run_tick")[1] == 540
    assert _timeout_default("run_tick_service") <= 540


RUNTIME_MODULE = tfconfig.TERRAFORM_DIR / "modules" / "function_runtime" / "main.tf"


def test_every_runtime_variable_is_checked_by_the_same_rules() -> None:
    # One module instance per function, deployed or not, named for the variable the user set.
    (module,) = tfconfig.configuration()["module"]
    call = module["function_runtime"]
    assert (call["source"], call["for_each"]) == (
        "./modules/function_runtime",
        "${local.function_timeouts}",
    )
    assert set(tfconfig.locals_()["function_timeouts"]) == set(FUNCTIONS)
    assert '"${each.key}_service"' in call["runtime"]
    assert "local.function_settings[each.key].service" in call["runtime"]
    for function in FUNCTIONS:
        assert FUNCTIONS[function]["service"] == f"${{var.{function}_service}}"
        low, high = tfconfig.timeout_range(function)
        assert 0 < low < high <= 3600
        assert low <= _timeout_default(f"{function}_service") <= high
    (variable,) = tfconfig.parse(RUNTIME_MODULE)["variable"]
    rules = json.dumps(variable["runtime"]["validation"])
    assert "timeout_seconds >= var.runtime.min_timeout" in rules
    assert "timeout_seconds <= var.runtime.max_timeout" in rules
    assert "min_instances <= var.runtime.service.max_instances" in rules
    # Cloud Run: at most 1000 requests per instance, and only one below a whole CPU.
    assert "concurrency <= 1000" in rules
    assert "concurrency == 1 || tonumber(var.runtime.service.cpu) >= 1" in rules


def _signature_types(source: Path) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(
        f"deployed_{source.name}_main", source / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        name: _function_registry.REGISTRY_MAP[name]
        for name, value in vars(module).items()
        if callable(value) and name in _function_registry.REGISTRY_MAP
    }


def tick_trigger() -> tfconfig.Block:
    (dynamic,) = FUNCTION["dynamic"]
    block = dynamic["event_trigger"]
    assert block["for_each"] == "${each.value.tick_trigger ? [google_pubsub_topic.ticks.id] : []}"
    return tfconfig.single(block, "content")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_entry_point_exists_with_the_signature_type_of_its_trigger(function: str) -> None:
    assert tfconfig.single(FUNCTION, "build_config")["entry_point"] == "${each.value.entry_point}"
    entry_point = FUNCTIONS[function]["entry_point"]
    expected = "cloudevent" if FUNCTIONS[function]["tick_trigger"] else "http"
    assert _signature_types(source_directory(function)).get(entry_point) == expected
    assert functions_framework.__name__ == "functions_framework"


def test_only_run_tick_has_the_tick_trigger() -> None:
    assert [f for f, settings in FUNCTIONS.items() if settings["tick_trigger"]] == ["run_tick"]


def test_tick_trigger_delivers_the_event_type_on_tick_parses() -> None:
    trigger = tick_trigger()
    assert trigger["pubsub_topic"] == "${event_trigger.value}"
    _scheduled_message("tick")
    data = {
        "message": {
            "data": base64.b64encode(b'{"kind":"tick"}').decode(),
            "messageId": "17504356102918430",
            "publishTime": "2026-11-28T09:00:00.123Z",
        },
        "subscription": "projects/p/subscriptions/eventarc-europe-west1-run-tick-sub-1",
    }
    parsed = tick.trigger_from_event(
        {"type": trigger["event_type"], "id": "17504356102918430"}, data
    )
    assert (parsed.kind, parsed.message_id) == ("tick", "17504356102918430")
    with pytest.raises(tick.MalformedTickError):
        tick.trigger_from_event({"type": "google.cloud.storage.object.v1.finalized"}, data)


def _scheduled_message(job_name: str) -> dict[str, object]:
    """The Pub/Sub push body the run function gets from a scheduler job's pubsub_target."""
    job = tfconfig.resources("google_cloud_scheduler_job")["this"]
    assert job["for_each"] == "${local.scheduler_jobs}"
    target = tfconfig.single(job, "pubsub_target")
    assert target["topic_name"] == "${google_pubsub_topic.ticks.id}"
    assert target["data"] == "${base64encode(jsonencode({kind = each.value.kind}))}"
    kind = tfconfig.locals_()["scheduler_jobs"][job_name]["kind"]
    data = base64.b64encode(json.dumps({"kind": kind}).encode()).decode()
    return {"message": {"data": data, "messageId": "1", "publishTime": "2026-11-28T09:00:00Z"}}


def test_the_daily_media_sweep_job_asks_for_a_sweep_and_the_tick_job_does_not() -> None:
    assert tick.message_kind(_scheduled_message("media_sweep")) == tick.MEDIA_SWEEP
    assert tick.message_kind(_scheduled_message("tick")) == "tick"
    # The sweep deletes objects: run_tick holds a role that may, the other signers only read.
    sweeper = tfconfig.resources("google_storage_bucket_iam_member")["media_sweeper"]
    assert (
        sweeper["member"] == 'serviceAccount:${google_service_account.function["run_tick"].email}'
    )
    assert sweeper["role"] == "roles/storage.objectUser"


def test_the_functions_that_write_media_hold_object_user_not_object_admin() -> None:
    # create, get and delete are all they call; Object Admin adds object ACLs and IAM policies.
    grants = tfconfig.resources("google_storage_bucket_iam_member")
    for name, function in (("media_api", "api"), ("media_web", "web")):
        assert grants[name]["role"] == "roles/storage.objectUser"
        member = f'serviceAccount:${{google_service_account.function["{function}"].email}}'
        assert grants[name]["member"] == member
    assert tfconfig.resources("google_storage_bucket")["media"]["uniform_bucket_level_access"]


def test_tick_retry_policy_is_chosen_explicitly() -> None:
    assert tick_trigger()["retry_policy"] == "RETRY_POLICY_RETRY"
    # Retries are bounded by the staleness rule, which Terraform sets on the run functions.
    assert "TICK_MAX_AGE_SECONDS" in plain_environment("run_tick")


def test_platform_variables_are_read_by_functions_framework() -> None:
    source = Path(inspect.getfile(functions_framework)).parent / "_http" / "gunicorn.py"
    for name in PLATFORM_VARIABLES:
        assert f'"{name}"' in source.read_text()


def test_only_status_the_api_and_the_web_app_are_public() -> None:
    bindings = tfconfig.resources("google_cloud_run_service_iam_member")
    public = {name for name, body in bindings.items() if body["member"] == "allUsers"}
    assert public == {"public"}
    assert set(tfconfig.locals_()["public_access"]) == {"status", "api", "web"}
    assert bindings["public"]["service"] == (
        "${google_cloudfunctions2_function.this[each.key].service_config[0].service}"
    )
    assert tfconfig.variables()["run_http_invokers"]["default"] == []
    ingress = {f: settings["ingress"] for f, settings in FUNCTIONS.items()}
    assert SERVICE["ingress_settings"] == "${each.value.ingress}"
    assert ingress == {
        "run_tick": "ALLOW_INTERNAL_ONLY",
        "publish": "ALLOW_INTERNAL_ONLY",
        "run_http": "ALLOW_ALL",
        "status": "ALLOW_ALL",
        "api": "ALLOW_ALL",
        "web": "ALLOW_ALL",
    }


def test_one_switch_makes_every_public_function_public_one_way_or_the_other_never_both() -> None:
    variables = tfconfig.variables()
    assert variables["public_access"]["default"] == "allUsers"
    for function, choice in tfconfig.locals_()["public_access"].items():
        # Each function follows the one switch unless its own override is set.
        assert choice == f"${{coalesce(var.{function}_public_access, var.public_access)}}"
        assert variables[f"{function}_public_access"]["default"] is None
    grant = tfconfig.resources("google_cloud_run_service_iam_member")["public"]
    switch = tfconfig.resources("terraform_data")["invoker_check_disabled"]
    assert 'if access == "allUsers"' in grant["for_each"]
    assert 'if access == "invoker_check_disabled"' in switch["for_each"]
    (provisioner,) = switch["provisioner"]
    command = provisioner["local-exec"]["command"]
    assert command.startswith("gcloud run services update ") and "--no-invoker-iam-check" in command
    service = "basename(google_cloudfunctions2_function.this[each.key].service_config[0].service)"
    assert service in str(provisioner["local-exec"]["environment"])
    # Set again after every new revision of the function.
    revision = "${google_cloudfunctions2_function.this[each.key].update_time}"
    assert revision in switch["triggers_replace"]


def test_the_api_reads_only_the_secrets_it_needs() -> None:
    assert secret_mapping("api") == {
        "MONGO_URI": "MONGO_URI",
        "TOKEN_ENCRYPTION_KEY": "TOKEN_ENCRYPTION_KEY",
        "JWT_SECRET": "JWT_SECRET",
        "ADMIN_SECRET_KEY": "ADMIN_SECRET_KEY",
        "META_APP_SECRET": "META_APP_SECRET",
    }
    outputs = {name for block in tfconfig.configuration()["output"] for name in block}
    assert "api_url" in outputs


def test_project_wide_grants_are_the_builder_logs_and_its_conditioned_staging_buckets() -> None:
    grants = tfconfig.resources("google_project_iam_member")
    assert set(grants) == {"builder_logs", "builder_staging", "builder_broad"}
    for grant in grants.values():
        assert grant["member"] == "${google_service_account.builder.member}"
    assert grants["builder_logs"]["role"] == "roles/logging.logWriter"
    condition = tfconfig.single(grants["builder_staging"], "condition")["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")' in condition
    # The broad set is the documented switch back, off unless asked for.
    assert grants["builder_broad"]["for_each"].startswith("${var.builder_broad_roles ? toset([")
    assert tfconfig.variables()["builder_broad_roles"]["default"] is False
    repository = tfconfig.resources("google_artifact_registry_repository_iam_member")["builder"]
    assert repository["role"] == "roles/artifactregistry.writer"
    assert "google_artifact_registry_repository.functions" in repository["repository"]
    bucket = tfconfig.resources("google_storage_bucket_iam_member")["builder_sources"]
    assert bucket["role"] == "roles/storage.objectViewer"
    build = tfconfig.single(FUNCTION, "build_config")
    assert build["service_account"] == "${google_service_account.builder.id}"
    assert build["docker_repository"] == "${google_artifact_registry_repository.functions.id}"


def test_the_image_repository_cleans_up_but_keeps_the_newest_images() -> None:
    repository = tfconfig.resources("google_artifact_registry_repository")["functions"]
    policies = {p["action"]: p for p in repository["cleanup_policies"]}
    assert set(policies) == {"DELETE", "KEEP"}
    assert tfconfig.single(policies["KEEP"], "most_recent_versions")["keep_count"] >= 2
    assert repository["cleanup_policy_dry_run"] is False


def test_pubsub_token_creator_is_granted_only_when_asked_and_only_on_the_trigger_account() -> None:
    grant = tfconfig.resources("google_service_account_iam_member")["pubsub_token_creator"]
    assert grant["count"] == "${var.grant_pubsub_token_creator ? 1 : 0}"
    assert grant["service_account_id"] == "${google_service_account.trigger.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert "@gcp-sa-pubsub.iam.gserviceaccount.com" in grant["member"]
    assert tfconfig.variables()["grant_pubsub_token_creator"]["default"] is False


def test_everything_that_takes_labels_is_labelled() -> None:
    labelled = {
        "google_cloudfunctions2_function": "labels",
        "google_storage_bucket": "labels",
        "google_pubsub_topic": "labels",
        "google_secret_manager_secret": "labels",
        "google_monitoring_alert_policy": "user_labels",
    }
    seen = set()
    for type_name, name, body in tfconfig.all_resources():
        if type_name in labelled:
            seen.add(type_name)
            assert body.get(labelled[type_name]) == "${local.labels}", f"{type_name}.{name}"
    assert seen == set(labelled)


def test_source_object_name_carries_the_archive_hash() -> None:
    obj = tfconfig.resources("google_storage_bucket_object")["source"]
    assert "${each.value.output_md5}" in obj["name"]
    assert obj["source"] == "${each.value.output_path}"


def test_log_filters_name_services_as_cloud_logging_labels_them() -> None:
    # service_config[0].service is "projects/P/locations/L/services/NAME"; the log label
    # resource.labels.service_name holds NAME alone, so the full path would match nothing.
    names = str(tfconfig.locals_()["service_log_names"])
    reference = "google_cloudfunctions2_function.this[key].service_config[0].service"
    assert f"basename({reference})" in names
    service_filter = str(tfconfig.locals_()["run_services_filter"])
    for function in ("run_tick", "run_http"):
        assert f'local.service_log_names["{function}"]' in service_filter
    assert "local.service_log_names" in str(tfconfig.locals_()["request_log_filter"])
    publish = str(tfconfig.locals_()["publish_log_metrics"])
    assert 'service_name=\\"${local.service_log_names["publish"]}' in publish
    assert "service_config" not in service_filter + publish


def test_first_apply_waits_for_iam_and_new_metrics_to_propagate() -> None:
    assert "${time_sleep.builder_roles}" in str(FUNCTION["depends_on"])
    for policy in tfconfig.resources("google_monitoring_alert_policy").values():
        assert "${time_sleep.log_metrics}" in str(policy["depends_on"])


def test_the_web_app_reads_its_sign_in_secret_only_when_google_sign_in_is_on() -> None:
    assert secret_mapping("web", oidc_enabled=False, threads_app_enabled=False) == {
        "MONGO_URI": "MONGO_URI",
        "TOKEN_ENCRYPTION_KEY": "TOKEN_ENCRYPTION_KEY",
        "ADMIN_SECRET_KEY": "ADMIN_SECRET_KEY",
        "META_APP_SECRET": "META_APP_SECRET",
    }
    function_secrets = tfconfig.locals_()["function_secrets"]
    assert 'var.oidc_client_id != "" && fn == "web" ? {OIDC_CLIENT_SECRET = ' in function_secrets
    # Threads' browser connect: its app's secret only with its id.
    assert 'var.threads_app_id != "" && fn == "web" ? {THREADS_APP_SECRET = ' in function_secrets
    environment = tfconfig.locals_()["web_environment"]
    assert 'var.oidc_client_id != "" ? {OIDC_CLIENT_ID = var.oidc_client_id} : {}' in environment
    assert {"WEB_BASE_URL", "MONGO_DB"} <= plain_environment("web")
    outputs = {name for block in tfconfig.configuration()["output"] for name in block}
    assert {"web_url", "oidc_redirect_uri"} <= outputs

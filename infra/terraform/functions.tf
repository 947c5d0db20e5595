# Every function is one entry of local.function_settings and one instance of
# google_cloudfunctions2_function.this. run_tick and run_http deploy the same archive
# (functions/run) with different entry points; the others deploy their own directory. Each has
# its own runtime service account (iam.tf). Overlapping runs are prevented by the MongoDB
# execution lock, never by max_instance_count.
#
# Adding a function (e.g. web): its name in local.function_names and the secrets it reads in
# local.required_function_secrets (main.tf); its directory in local.function_sources, its
# entry in local.function_settings (functions/<directory>/main.py registers <entry_point>) and
# its timeouts in local.function_timeouts below; if it is public, an entry in local.public_access (iam.tf). The MongoDB
# connection check (mongodb.tf) counts it from its entry.

locals {
  # Which functions/<directory> each function deploys (source.tf builds one archive per
  # directory). Kept apart from the settings below, which name resources, so the archives
  # depend on nothing and are built at plan time.
  function_sources = {
    run_tick = "run"
    run_http = "run"
    status   = "status"
    api      = "api"
    publish  = "publish"
    web      = "web"
  }

  # Per function: what it runs, its runtime variable, its ingress, the connections per
  # instance it may open to each MongoDB server (MONGO_MAX_POOL_SIZE) and its settings.
  function_settings = {
    run_tick = {
      description    = "Publishes due posts on every tick (Pub/Sub event)."
      entry_point    = "on_tick"
      service        = var.run_tick_service
      tick_trigger   = true
      ingress        = "ALLOW_INTERNAL_ONLY"
      mongo_pool     = local.run_mongo_pool_size
      budget_reserve = local.run_budget_reserve_seconds
      environment    = local.run_environment
    }
    run_http = {
      description    = "Runs the scheduler on demand (POST with an admin JWT, the admin key or an admin API key)."
      entry_point    = "run_http"
      service        = var.run_http_service
      tick_trigger   = false
      ingress        = "ALLOW_ALL"
      mongo_pool     = local.run_mongo_pool_size
      budget_reserve = local.run_budget_reserve_seconds
      environment    = local.run_environment
    }
    status = {
      description    = "Public, read-only scheduler status."
      entry_point    = "status"
      service        = var.status_service
      tick_trigger   = false
      ingress        = "ALLOW_ALL"
      mongo_pool     = var.status_service.concurrency + local.spare_connections
      budget_reserve = null
      environment    = local.status_environment
    }
    api = {
      description    = "The JSON API (/v1): posts and accounts, API keys with scopes."
      entry_point    = "api"
      service        = var.api_service
      tick_trigger   = false
      ingress        = "ALLOW_ALL"
      mongo_pool     = var.api_service.concurrency + local.spare_connections
      budget_reserve = null
      environment    = local.api_environment
    }
    publish = {
      description  = "Publishes one post per Cloud Task, at its second (dispatch = tasks)."
      entry_point  = "publish"
      service      = var.publish_service
      tick_trigger = false
      # Cloud Tasks of the same project is internal traffic on the service's run.app URL
      # (Cloud Run ingress page); the invoker check admits only the tasks service account.
      ingress        = "ALLOW_INTERNAL_ONLY"
      mongo_pool     = var.publish_service.concurrency + local.spare_connections
      budget_reserve = local.run_budget_reserve_seconds
      environment    = merge(local.run_environment, local.publish_environment)
    }
    web = {
      description    = "The web app for the people who plan posts (members sign in)."
      entry_point    = "web"
      service        = var.web_service
      tick_trigger   = false
      ingress        = "ALLOW_ALL"
      mongo_pool     = var.web_service.concurrency + local.spare_connections
      budget_reserve = null
      environment    = local.web_environment
    }
  }

  # The timeouts each function allows, checked with the rest of its runtime variable
  # (<function>_service) by modules/function_runtime: an event function stops at 540 s, a task's
  # dispatch deadline at 1800 s, an HTTP function at 3600 s; a function that runs the engine
  # needs 120 s for a run budget (main.tf).
  function_timeouts = {
    run_tick = { min_timeout = 120, max_timeout = 540, limit = " (the event-function limit)" }
    run_http = { min_timeout = 120, max_timeout = 3600, limit = "" }
    status   = { min_timeout = 5, max_timeout = 3600, limit = "" }
    api      = { min_timeout = 5, max_timeout = 3600, limit = "" }
    publish  = { min_timeout = 120, max_timeout = 1800, limit = " (Cloud Tasks' longest dispatch deadline for HTTP targets)" }
    web      = { min_timeout = 5, max_timeout = 3600, limit = "" }
  }

  # The functions this configuration deploys: publish only with dispatch = "tasks".
  functions = { for key, fn in local.function_settings : key => fn if contains(keys(local.function_names), key) }
}

# Every function's runtime variable, deployed or not, checked by the same rules.
module "function_runtime" {
  source   = "./modules/function_runtime"
  for_each = local.function_timeouts

  runtime = merge(each.value, {
    variable = "${each.key}_service"
    service  = local.function_settings[each.key].service
  })
}

resource "google_cloudfunctions2_function" "this" {
  # checkov:skip=CKV_GCP_124:run-http, status and api are reached from outside any VPC by design: status is public and read-only, the api and run-http authenticate every request in the app (API keys, admin tokens); run-tick and publish are internal only.
  for_each = local.functions

  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime         = "python313"
    entry_point     = each.value.entry_point
    service_account = google_service_account.builder.id
    # Our own repository: the builder may push here and nowhere else (iam.tf), and old images
    # are cleaned up (artifacts.tf).
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[local.function_sources[each.key]].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.service.memory
    available_cpu                    = each.value.service.cpu
    timeout_seconds                  = each.value.service.timeout_seconds
    min_instance_count               = each.value.service.min_instances
    max_instance_count               = each.value.service.max_instances
    max_instance_request_concurrency = each.value.service.concurrency
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true

    environment_variables = merge(
      each.value.environment,
      {
        THREADS             = tostring(each.value.service.concurrency)
        MONGO_MAX_POOL_SIZE = tostring(each.value.mongo_pool)
      },
      # The functions that run the engine stop claiming posts while there is still time to
      # finish the last platform call and record the run (main.tf).
      each.value.budget_reserve == null ? {} : {
        RUN_BUDGET_SECONDS = tostring(each.value.service.timeout_seconds - each.value.budget_reserve)
      },
    )

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets[each.key]
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.tick_trigger ? [google_pubsub_topic.ticks.id] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic          = event_trigger.value
      service_account_email = google_service_account.trigger.email
      # Retry: a tick lost to a crash, a cold-start failure or a 429 (no instance free) is
      # redelivered within seconds instead of waiting for the next tick. It is safe because the
      # engine acks without running any tick older than TICK_MAX_AGE_SECONDS (so a retried
      # tick stops after a few attempts, not after Eventarc's 24 h window), and the lock
      # recognises a messageId that already ran, so a redelivery never runs twice.
      retry_policy = "RETRY_POLICY_RETRY"
    }
  }

  lifecycle {
    precondition {
      condition     = local.mongo_connections_per_server <= local.mongo_connections_allowed
      error_message = "The functions may open ${local.mongo_connections_per_server} connections to one MongoDB server (max_instances x (MONGO_MAX_POOL_SIZE + 2 monitoring connections) over every function), more than ${local.mongo_connections_allowed} (mongo_max_connections less a ${local.mongo_connection_margin_percent}% margin): lower max_instances or concurrency, or raise mongo_max_connections with the cluster tier."
    }
  }

  # The trigger needs Eventarc's service agent (services.tf) and, in old projects, the Pub/Sub
  # agent's right to mint the trigger's tokens (iam.tf). With dispatch = "tasks" the run
  # functions create tasks as soon as they deploy: the queue grants come first (tasks.tf).
  depends_on = [
    google_project_service.this,
    time_sleep.eventarc_agent,
    google_secret_manager_secret_iam_member.function,
    google_service_account_iam_member.pubsub_token_creator,
    google_cloud_tasks_queue_iam_member.enqueuer,
    google_service_account_iam_member.act_as_tasks,
    time_sleep.builder_roles,
  ]
}

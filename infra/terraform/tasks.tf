# dispatch = "tasks": a Cloud Tasks queue, the publish function it calls, and the identities
# between them. The run functions (and publish, for a retry's next task) enqueue; Cloud Tasks
# calls publish with the OIDC token of the tasks service account, the only invoker it has.
# Nothing here exists with dispatch = "inline".

locals {
  tasks_enabled = var.dispatch == "tasks"
  # Each task is an HTTP POST to this URL and its OIDC token names it as the audience. It is
  # the function's own cloudfunctions.net URL, known before the function exists, so the
  # function can be told its audience without depending on itself.
  publish_function_name = "${var.name_prefix}-publish"
  publish_url           = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.publish_function_name}"

  # Settings the run functions and publish share with dispatch = "tasks" (common/config.py).
  tasks_environment = {
    DISPATCH              = "tasks"
    TASKS_QUEUE           = one(google_cloud_tasks_queue.publish[*].id)
    TASKS_TARGET_URL      = local.publish_url
    TASKS_AUDIENCE        = local.publish_url
    TASKS_SERVICE_ACCOUNT = one(google_service_account.tasks[*].email)
    TASKS_HORIZON_SECONDS = tostring(var.tasks_horizon_seconds)
  }

  # Instances x connections per instance, for every function: the sum must fit the cluster.
  # The run and status functions keep the code's default pool (PUBLISH_WORKERS + 8 = 40); the
  # publish function serves `concurrency` posts at once and gets two spare connections.
  publish_mongo_pool_size = var.publish_service.concurrency + 2
  mongo_connections = (
    (var.run_tick_service.max_instances + var.run_http_service.max_instances + var.status_service.max_instances) * 40
    + (local.tasks_enabled ? var.publish_service.max_instances * local.publish_mongo_pool_size : 0)
  )
}

resource "google_service_account" "tasks" {
  count = local.tasks_enabled ? 1 : 0

  account_id   = "${var.name_prefix}-tasks"
  display_name = "Cloud Tasks identity that invokes ${local.publish_function_name}"

  depends_on = [google_project_service.this]
}

resource "google_cloud_tasks_queue" "publish" {
  count = local.tasks_enabled ? 1 : 0

  name     = "${var.name_prefix}-publish"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.tasks_queue.max_dispatches_per_second
    # No more tasks in flight than publish instances can serve at once.
    max_concurrent_dispatches = var.publish_service.max_instances * var.publish_service.concurrency
  }

  # A 503 from publish (another claimer holds the post, or the database is away) is retried;
  # any 2xx ends the task. After max_retry_duration the run's sweep publishes what is left.
  retry_config {
    max_attempts       = var.tasks_queue.max_attempts
    min_backoff        = var.tasks_queue.min_backoff
    max_backoff        = var.tasks_queue.max_backoff
    max_doublings      = var.tasks_queue.max_doublings
    max_retry_duration = var.tasks_queue.max_retry_duration
  }

  stackdriver_logging_config {
    sampling_ratio = 0.1
  }

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "publish" {
  count = local.tasks_enabled ? 1 : 0

  name        = local.publish_function_name
  location    = var.region
  description = "Publishes one post per Cloud Task, at its second (dispatch = tasks)."
  labels      = local.labels

  build_config {
    runtime           = "python313"
    entry_point       = "publish"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["publish"].name
      }
    }
  }

  service_config {
    available_memory                 = var.publish_service.memory
    available_cpu                    = var.publish_service.cpu
    timeout_seconds                  = var.publish_service.timeout_seconds
    min_instance_count               = var.publish_service.min_instances
    max_instance_count               = var.publish_service.max_instances
    max_instance_request_concurrency = var.publish_service.concurrency
    service_account_email            = google_service_account.function["publish"].email
    # Cloud Tasks of the same project counts as internal traffic (Cloud Run ingress page).
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    environment_variables = merge(local.run_environment, {
      RUN_BUDGET_SECONDS  = tostring(var.publish_service.timeout_seconds - local.run_budget_reserve_seconds)
      THREADS             = tostring(var.publish_service.concurrency)
      MONGO_MAX_POOL_SIZE = tostring(local.publish_mongo_pool_size)
      # Cloud Run's invoker IAM check is on for this service (the default; only the tasks
      # account is an invoker): publish then checks the forwarded token's claims, whose
      # signature Cloud Run removed (common/entrypoints/task_auth.py).
      TASKS_INVOKER_CHECK = "on"
    })

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets.publish
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.mongo_connections <= var.mongo_max_connections
      error_message = "max_instances x MongoDB pool size over all functions exceeds mongo_max_connections: lower publish_service.max_instances or concurrency, or raise the cluster tier."
    }
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.function,
    time_sleep.builder_roles,
  ]
}

# Only the tasks service account may invoke publish (Cloud Run IAM on its service).
resource "google_cloud_run_service_iam_member" "publish_invoker" {
  count = local.tasks_enabled ? 1 : 0

  location = google_cloudfunctions2_function.publish[0].location
  service  = google_cloudfunctions2_function.publish[0].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.tasks[0].member
}

# Who creates tasks: enqueuer on this queue only, and the right to have Cloud Tasks act as
# the tasks service account (actAs on that one account, not on the project).
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.tasks_enabled ? toset(local.task_creators) : toset([])

  name     = google_cloud_tasks_queue.publish[0].name
  location = google_cloud_tasks_queue.publish[0].location
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.function[each.key].member
}

resource "google_service_account_iam_member" "act_as_tasks" {
  for_each = local.tasks_enabled ? toset(local.task_creators) : toset([])

  service_account_id = google_service_account.tasks[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function[each.key].member
}

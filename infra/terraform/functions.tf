# The three functions. run_tick and run_http deploy the same archive (functions/run) with
# different entry points; status deploys functions/status. Each has its own runtime service
# account (iam.tf). Overlapping runs are prevented by the MongoDB execution lock, never by
# max_instance_count.

resource "google_cloudfunctions2_function" "run_tick" {
  name        = local.function_names.run_tick
  location    = var.region
  description = "Publishes due posts on every tick (Pub/Sub event)."
  labels      = local.labels

  build_config {
    runtime         = "python313"
    entry_point     = "on_tick"
    service_account = google_service_account.builder.id
    # Our own repository: the builder may push here and nowhere else (iam.tf), and old images
    # are cleaned up (artifacts.tf).
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["run"].name
      }
    }
  }

  service_config {
    available_memory                 = var.run_tick_service.memory
    available_cpu                    = var.run_tick_service.cpu
    timeout_seconds                  = var.run_tick_service.timeout_seconds
    min_instance_count               = var.run_tick_service.min_instances
    max_instance_count               = var.run_tick_service.max_instances
    max_instance_request_concurrency = var.run_tick_service.concurrency
    service_account_email            = google_service_account.function["run_tick"].email
    # Eventarc's Pub/Sub push is internal traffic; nothing else needs to reach this function.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    environment_variables = merge(local.run_environment, {
      RUN_BUDGET_SECONDS = tostring(var.run_tick_service.timeout_seconds - local.run_budget_reserve_seconds)
      THREADS            = tostring(var.run_tick_service.concurrency)
    })

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets.run_tick
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.ticks.id
    service_account_email = google_service_account.trigger.email
    # Retry: a tick lost to a crash, a cold-start failure or a 429 (no instance free) is redelivered
    # within seconds instead of waiting for the next tick. It is safe because the engine acks
    # without running any tick older than TICK_MAX_AGE_SECONDS (so a retried tick stops after a
    # few attempts, not after Eventarc's 24 h window), and the lock recognises a messageId that
    # already ran, so a redelivery never runs twice.
    retry_policy = "RETRY_POLICY_RETRY"
  }

  # The trigger needs Eventarc's service agent (services.tf) and, in old projects, the Pub/Sub
  # agent's right to mint the trigger's tokens (iam.tf).
  depends_on = [
    google_project_service.this,
    time_sleep.eventarc_agent,
    google_secret_manager_secret_iam_member.function,
    google_service_account_iam_member.pubsub_token_creator,
    time_sleep.builder_roles,
  ]
}

resource "google_cloudfunctions2_function" "run_http" {
  name        = local.function_names.run_http
  location    = var.region
  description = "Runs the scheduler on demand (POST with an admin JWT or the admin key)."
  labels      = local.labels

  build_config {
    runtime         = "python313"
    entry_point     = "run_http"
    service_account = google_service_account.builder.id
    # Our own repository: the builder may push here and nowhere else (iam.tf), and old images
    # are cleaned up (artifacts.tf).
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["run"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124:Operators and CI call this from outside any VPC; every call needs an admin token, and roles/run.invoker is limited by var.run_http_invokers.
    available_memory                 = var.run_http_service.memory
    available_cpu                    = var.run_http_service.cpu
    timeout_seconds                  = var.run_http_service.timeout_seconds
    min_instance_count               = var.run_http_service.min_instances
    max_instance_count               = var.run_http_service.max_instances
    max_instance_request_concurrency = var.run_http_service.concurrency
    service_account_email            = google_service_account.function["run_http"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.run_environment, {
      RUN_BUDGET_SECONDS = tostring(var.run_http_service.timeout_seconds - local.run_budget_reserve_seconds)
      THREADS            = tostring(var.run_http_service.concurrency)
    })

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets.run_http
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.function,
    time_sleep.builder_roles,
  ]
}

resource "google_cloudfunctions2_function" "status" {
  name        = local.function_names.status
  location    = var.region
  description = "Public, read-only scheduler status."
  labels      = local.labels

  build_config {
    runtime         = "python313"
    entry_point     = "status"
    service_account = google_service_account.builder.id
    # Our own repository: the builder may push here and nowhere else (iam.tf), and old images
    # are cleaned up (artifacts.tf).
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["status"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124:The status endpoint is public by design (read-only, no post text or tokens).
    available_memory                 = var.status_service.memory
    available_cpu                    = var.status_service.cpu
    timeout_seconds                  = var.status_service.timeout_seconds
    min_instance_count               = var.status_service.min_instances
    max_instance_count               = var.status_service.max_instances
    max_instance_request_concurrency = var.status_service.concurrency
    service_account_email            = google_service_account.function["status"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.status_environment, {
      THREADS = tostring(var.status_service.concurrency)
    })

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets.status
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.function,
    time_sleep.builder_roles,
  ]
}

resource "google_cloudfunctions2_function" "api" {
  name        = local.function_names.api
  location    = var.region
  description = "The JSON API (/v1): posts and accounts, API keys with scopes."
  labels      = local.labels

  build_config {
    runtime         = "python313"
    entry_point     = "api"
    service_account = google_service_account.builder.id
    # Our own repository: the builder may push here and nowhere else (iam.tf), and old images
    # are cleaned up (artifacts.tf).
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["api"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124:Public ingress by design: every /v1 request is authenticated in the app (API key or admin JWT).
    available_memory                 = var.api_service.memory
    available_cpu                    = var.api_service.cpu
    timeout_seconds                  = var.api_service.timeout_seconds
    min_instance_count               = var.api_service.min_instances
    max_instance_count               = var.api_service.max_instances
    max_instance_request_concurrency = var.api_service.concurrency
    service_account_email            = google_service_account.function["api"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.api_environment, {
      THREADS = tostring(var.api_service.concurrency)
    })

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets.api
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.function,
    time_sleep.builder_roles,
  ]
}

# dispatch = "tasks": a Cloud Tasks queue, the publish function it calls, and the identities
# between them. The run functions (and publish, for a rescheduled post's next task) enqueue;
# Cloud Tasks calls publish with an OIDC token of the tasks service account.
#
# Who may call publish (README: "Publish: who may call it"): Cloud Run checks the token before
# the request reaches the code. publish has internal ingress, its invoker IAM check is on (the
# Cloud Run default, asserted after every apply below) and only the tasks service account holds
# roles/run.invoker on it. Cloud Run then forwards the token with its signature replaced by
# SIGNATURE_REMOVED_BY_GOOGLE, so the code checks the claims (issuer, audience, the tasks
# account's email, expiry) and trusts the signature check to Cloud Run: TASKS_INVOKER_CHECK=on
# says so, and the code refuses every task without it.
#
# The queue exists in both modes: a deleted queue's name cannot be used again for up to seven
# days, so switching dispatch back and forth must not delete it. An empty queue costs nothing.

locals {
  tasks_enabled         = var.dispatch == "tasks"
  publish_function_name = "${var.name_prefix}-publish"
  # Each task is a POST to publish's deterministic run.app URL, which is also its token's
  # audience. Internal ingress admits Cloud Tasks only on the service's default run.app URL, not
  # on the cloudfunctions.net one; the deterministic form is known before the function exists,
  # so publish can be told its own audience without depending on itself.
  publish_url = "https://${local.publish_function_name}-${local.project_number}.${var.region}.run.app"

  # Who creates tasks: the run functions load due posts into the queue, the api creates the
  # task of a post created or edited shortly before it is due, and publish enqueues a
  # rescheduled post's next task. A function that creates tasks (a web app) joins this list.
  task_creators = ["run_tick", "run_http", "api", "publish"]

  # Settings every function that creates or serves tasks shares (common/config.py).
  tasks_environment = {
    DISPATCH              = "tasks"
    TASKS_QUEUE           = google_cloud_tasks_queue.publish.id
    TASKS_TARGET_URL      = local.publish_url
    TASKS_AUDIENCE        = local.publish_url
    TASKS_SERVICE_ACCOUNT = one(google_service_account.tasks[*].email)
    TASKS_HORIZON_SECONDS = tostring(var.tasks_horizon_seconds)
    # Cloud Tasks waits for publish's answer as long as publish may take, and no longer: an
    # attempt is neither abandoned while it still works (a duplicate delivery) nor waited on
    # after Cloud Run has ended it.
    TASKS_DISPATCH_DEADLINE_SECONDS = tostring(var.publish_service.timeout_seconds)
  }

  # Only publish verifies tokens: it trusts Cloud Run's invoker check (above).
  publish_environment = {
    TASKS_INVOKER_CHECK = "on"
  }
}

resource "google_service_account" "tasks" {
  count = local.tasks_enabled ? 1 : 0

  account_id   = "${var.name_prefix}-tasks"
  display_name = "Cloud Tasks identity that invokes ${local.publish_function_name}"

  depends_on = [google_project_service.this]
}

resource "google_cloud_tasks_queue" "publish" {
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

# Only the tasks service account may invoke publish (Cloud Run IAM on its service).
resource "google_cloud_run_service_iam_member" "publish_invoker" {
  count = local.tasks_enabled ? 1 : 0

  location = google_cloudfunctions2_function.this["publish"].location
  service  = google_cloudfunctions2_function.this["publish"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.tasks[0].member
}

# The code trusts the invoker check (TASKS_INVOKER_CHECK=on): read the publish service back
# after every apply and fail if the check is off, or if its URL is not the one the tasks name.
data "google_cloud_run_v2_service" "publish" {
  count = local.tasks_enabled ? 1 : 0

  name     = basename(google_cloudfunctions2_function.this["publish"].service_config[0].service)
  location = var.region

  lifecycle {
    postcondition {
      condition     = !self.invoker_iam_disabled
      error_message = "Cloud Run's invoker IAM check is off on the publish service, and publish trusts it to verify the tasks' tokens: switch it on (gcloud run services update ${local.publish_function_name} --invoker-iam-check --region=${var.region})."
    }
    postcondition {
      condition     = contains(self.urls, local.publish_url)
      error_message = "The publish service does not answer on ${local.publish_url}, the URL and audience of every task (the deterministic run.app URL is given only when service name and project number fit in 63 characters)."
    }
  }
}

# Who creates tasks: enqueuer on this queue only, and the right to have Cloud Tasks act as
# the tasks service account (actAs on that one account, not on the project).
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.tasks_enabled ? toset(local.task_creators) : toset([])

  name     = google_cloud_tasks_queue.publish.name
  location = google_cloud_tasks_queue.publish.location
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.function[each.key].member
}

resource "google_service_account_iam_member" "act_as_tasks" {
  for_each = local.tasks_enabled ? toset(local.task_creators) : toset([])

  service_account_id = google_service_account.tasks[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function[each.key].member
}

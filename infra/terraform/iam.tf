# Least privilege: one runtime service account per function, one for the Eventarc trigger and
# one for building. Every grant below is on a single resource (a secret, a topic, a Cloud Run
# service) except the builder's, which Cloud Build needs project-wide.

resource "google_service_account" "function" {
  for_each = local.function_names

  account_id   = each.value
  display_name = "Runtime of the ${each.value} function"
}

resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "Eventarc trigger that invokes ${local.function_names.run_tick}"
}

resource "google_service_account" "builder" {
  account_id   = "${var.name_prefix}-builder"
  display_name = "Cloud Build for the ${var.name_prefix} functions"
}

# Each function reads exactly the secrets in local.function_secrets.
resource "google_secret_manager_secret_iam_member" "function" {
  for_each = local.secret_access

  secret_id = google_secret_manager_secret.this[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.fn].member
}

# The run functions publish outcome events, and only to the events topic.
resource "google_pubsub_topic_iam_member" "events_publisher" {
  for_each = var.enable_events_topic ? toset(["run_tick", "run_http"]) : toset([])

  topic  = google_pubsub_topic.events[0].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.key].member
}

# Invocation of a 2nd-gen function is checked by Cloud Run IAM on its underlying service (the
# Cloud Functions IAM resource rejects roles/run.invoker).
resource "google_cloud_run_service_iam_member" "tick_invoker" {
  location = google_cloudfunctions2_function.run_tick.location
  service  = google_cloudfunctions2_function.run_tick.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "status_public" {
  # checkov:skip=CKV_GCP_102:The status function is public by design: read-only, no post text or tokens.
  location = google_cloudfunctions2_function.status.location
  service  = google_cloudfunctions2_function.status.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "run_http_invoker" {
  # checkov:skip=CKV_GCP_102:Public only when the operator puts allUsers in run_http_invokers; the app then still requires an admin token.
  for_each = toset(var.run_http_invokers)

  location = google_cloudfunctions2_function.run_http.location
  service  = google_cloudfunctions2_function.run_http.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# What a custom Cloud Build service account needs to build a function from source: write build
# logs, push the image to Artifact Registry, read the staged source (Cloud Run "build service
# account" documentation).
resource "google_project_iam_member" "builder" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectAdmin",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.builder.member
}

# IAM grants take a while to take effect; a build started at once can fail to read the source
# archive (the provider's own Cloud Functions builder example waits 60 s the same way).
resource "time_sleep" "builder_roles" {
  create_duration = "60s"
  depends_on      = [google_project_iam_member.builder]
}

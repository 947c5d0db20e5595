# Least privilege: one runtime service account per function, one for the Eventarc trigger and
# one for building. Every grant below is on a single resource (a secret, a topic, a Cloud Run
# service, a bucket, the image repository) except the builder's log writing, which has no
# narrower scope, and the optional broad builder roles (var.builder_broad_roles).

resource "google_service_account" "function" {
  for_each = local.function_names

  account_id   = each.value
  display_name = "Runtime of the ${each.value} function"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "Eventarc trigger that invokes ${local.function_names.run_tick}"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "builder" {
  account_id   = "${var.name_prefix}-builder"
  display_name = "Cloud Build for the ${var.name_prefix} functions"

  depends_on = [google_project_service.this]
}

# Each function reads exactly the secrets in local.function_secrets.
resource "google_secret_manager_secret_iam_member" "function" {
  for_each = local.secret_access

  secret_id = google_secret_manager_secret.this[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.fn].member
}

# The run functions (and publish, with dispatch = "tasks") publish outcome events, and only to
# the events topic.
resource "google_pubsub_topic_iam_member" "events_publisher" {
  for_each = var.enable_events_topic ? toset(concat(["run_tick", "run_http"], local.tasks_enabled ? ["publish"] : [])) : toset([])

  topic  = google_pubsub_topic.events[0].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.key].member
}

# Invocation of a 2nd-gen function is checked by Cloud Run IAM on its underlying service (the
# Cloud Functions IAM resource rejects roles/run.invoker).
resource "google_cloud_run_service_iam_member" "tick_invoker" {
  location = google_cloudfunctions2_function.this["run_tick"].location
  service  = google_cloudfunctions2_function.this["run_tick"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

# Pub/Sub's service agent signs the tokens Eventarc's push subscription sends as the trigger
# account. Projects whose Pub/Sub agent was created on or before 2021-04-08 lack that right
# (Eventarc "roles and permissions" page); granting it on the trigger account alone is the
# narrowest form.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  count = var.grant_pubsub_token_creator ? 1 : 0

  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# The public functions: status (read-only, no post text or tokens) and the api (every /v1
# request is authenticated by the app itself, API keys with scopes or admin JWTs, since CLIs and
# applications hold no Google identity). Each is made public one of two ways, as Cloud Run's
# "Allowing public access" page describes (var.public_access, per function overridable):
#  - "allUsers": roles/run.invoker for allUsers. Refused where the organisation enforces
#    domain-restricted sharing (iam.allowedPolicyMemberDomains).
#  - "invoker_check_disabled": no IAM grant; the service's invoker IAM check is switched off.
#    Cloud Functions does not expose that switch (terraform-provider-google issue 23360) and the
#    Cloud Run service belongs to the function, so Terraform sets it with gcloud after every
#    deploy of the function (needs run.services.update and run.services.setIamPolicy).
locals {
  public_access = {
    status = coalesce(var.status_public_access, var.public_access)
    api    = coalesce(var.api_public_access, var.public_access)
    web    = coalesce(var.web_public_access, var.public_access)
  }
}

resource "google_cloud_run_service_iam_member" "public" {
  # checkov:skip=CKV_GCP_102:Only status (read-only, no post text or tokens), the api and the web app (both authenticate every request themselves) are public, by design.
  for_each = { for key, access in local.public_access : key => access if access == "allUsers" }

  location = google_cloudfunctions2_function.this[each.key].location
  service  = google_cloudfunctions2_function.this[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "terraform_data" "invoker_check_disabled" {
  for_each = { for key, access in local.public_access : key => access if access == "invoker_check_disabled" }

  # A redeploy of the function may write its Cloud Run service back with the check on
  # (unverified either way), so every new revision of the function sets it again.
  triggers_replace = [
    google_cloudfunctions2_function.this[each.key].service_config[0].service,
    google_cloudfunctions2_function.this[each.key].update_time,
  ]

  provisioner "local-exec" {
    command = "gcloud run services update \"$SERVICE\" --no-invoker-iam-check --region=\"$REGION\" --project=\"$PROJECT\" --quiet"
    environment = {
      SERVICE = basename(google_cloudfunctions2_function.this[each.key].service_config[0].service)
      REGION  = google_cloudfunctions2_function.this[each.key].location
      PROJECT = var.project_id
    }
  }
}

resource "google_cloud_run_service_iam_member" "run_http_invoker" {
  # checkov:skip=CKV_GCP_102:Public only when the operator puts allUsers in run_http_invokers; the app then still requires an admin token.
  for_each = toset(var.run_http_invokers)

  location = google_cloudfunctions2_function.this["run_http"].location
  service  = google_cloudfunctions2_function.this["run_http"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# What a custom Cloud Build service account needs to build a function from source (Cloud Run
# "build service account" page): write build logs, push the image, read the staged source.
# Logs have no narrower scope than the project. The image goes to our repository only
# (artifacts.tf). Cloud Functions copies the source archive into its own staging buckets,
# named gcf-v2-sources-<project number>-<region> (and gcf-v2-uploads-... for uploads), so the
# storage role is limited to those buckets by an IAM condition, plus reading our source bucket.
resource "google_project_iam_member" "builder_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.builder.member

  depends_on = [google_project_service.this]
}

resource "google_artifact_registry_repository_iam_member" "builder" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

resource "google_storage_bucket_iam_member" "builder_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.builder.member
}

resource "google_project_iam_member" "builder_staging" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.builder.member

  condition {
    title       = "Cloud Functions staging buckets"
    description = "Only the buckets Cloud Functions stages function source in."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-uploads-\")"
  }

  depends_on = [google_project_service.this]
}

# The switch back: if a build fails for lack of access (the exact set a build needs is not
# documented beyond the three roles), builder_broad_roles = true grants Google's documented
# set project-wide, as this stack did before.
resource "google_project_iam_member" "builder_broad" {
  for_each = var.builder_broad_roles ? toset([
    "roles/artifactregistry.writer",
    "roles/storage.objectAdmin",
  ]) : toset([])

  project = var.project_id
  role    = each.value
  member  = google_service_account.builder.member

  depends_on = [google_project_service.this]
}

# IAM grants take a while to take effect; a build started at once can fail to read the source
# archive (the provider's own Cloud Functions builder example waits 60 s the same way).
# The triggers name every grant, so a grant added by a later apply (builder_broad_roles switched
# on) waits again before the builds it is for.
resource "time_sleep" "builder_roles" {
  create_duration = "60s"
  triggers = {
    grants = join(",", sort(concat(
      [
        google_project_iam_member.builder_logs.id,
        google_project_iam_member.builder_staging.id,
        google_artifact_registry_repository_iam_member.builder.id,
        google_storage_bucket_iam_member.builder_sources.id,
      ],
      [for grant in google_project_iam_member.builder_broad : grant.id],
    )))
  }
}

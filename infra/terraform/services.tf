# The APIs the system uses. Disabling an API on destroy would break anything else in the
# project that uses it, so destroy leaves them enabled.
#
# Two APIs cannot be enabled from here: serviceusage.googleapis.com (Terraform enables every
# other API through it) and billing (Cloud Build and Cloud Functions refuse a project without a
# billing account). scripts/preflight.sh checks both before the first apply.
locals {
  services = toset([
    "artifactregistry.googleapis.com",
    # The opt-in budget (billing.tf) is created through this API, billed to this project.
    "billingbudgets.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # google_project_iam_member (the builder's log writing, the optional broad roles) and the
    # project number lookup (data.google_project) go through Cloud Resource Manager.
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    # Cloud Tasks (dispatch = "tasks"); enabling an unused API costs nothing.
    "cloudtasks.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    # signBlob: the functions sign media URLs as themselves (media.tf).
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "this" {
  for_each = local.services

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Enabling eventarc.googleapis.com creates Eventarc's service agent lazily: a function with an
# event trigger created in the same apply fails with "Permission denied while using the Eventarc
# Service Agent ... it may take a few minutes" (terraform-provider-google issues 25294 and
# 14584). google_project_service_identity, which would create the agent at once, exists only in
# the beta provider, so wait instead. The wait runs once, when the APIs are first enabled; if
# the agent is slower still, a second `terraform apply` finishes the job (README).
resource "time_sleep" "eventarc_agent" {
  create_duration = "${var.eventarc_agent_wait_seconds}s"
  depends_on      = [google_project_service.this]
}

# The project number names Google's service agents (the Pub/Sub agent in iam.tf), the
# publish function's deterministic URL (tasks.tf) and the budget's scope. Read after Cloud
# Resource Manager is on, so a fresh project plans cleanly.
data "google_project" "this" {
  project_id = var.project_id
  depends_on = [google_project_service.this]
}

locals {
  project_number = data.google_project.this.number
}

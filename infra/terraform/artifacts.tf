# The image repository the function builds push to. Cloud Functions would otherwise use a
# repository of its own (gcf-artifacts) that it creates on the first build, which the builder
# could then only reach with a project-wide Artifact Registry role. With our own repository the
# builder's write access stops at this one (iam.tf), and old images stop costing storage.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:Images hold the public function code and its open-source dependencies, no data; Google-managed encryption is enough.
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built from the ${var.name_prefix} functions' source."
  labels        = local.labels

  # Delete images older than 30 days, but always keep each function's five newest, so the
  # image of a live revision (and a few to roll back to) survives however old it is: where a
  # version matches both, KEEP wins.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "delete-older-than-30-days"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }
  cleanup_policies {
    id     = "keep-five-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  depends_on = [google_project_service.this]
}

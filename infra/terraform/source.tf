# One source archive per function directory, built by `terraform plan/apply` itself. Each
# directory holds main.py, requirements.txt and a committed symlink common -> ../../common; the
# archive provider follows symlinked directories (since 2.4), so the zip carries the whole
# common/ package that Cloud Build needs. The zip has zero modification times and a fixed file
# mode, so its hash depends only on the content.
data "archive_file" "source" {
  for_each = toset([for key in keys(local.function_names) : local.function_sources[key]])

  type             = "zip"
  source_dir       = "${path.module}/../../functions/${each.key}"
  output_path      = "${path.module}/build/${each.key}.zip"
  output_file_mode = "0644"
  excludes = [
    "**/__pycache__/**",
    "**/*.pyc",
    "**/tests/**",
  ]
}

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62:Only Terraform writes here and only Cloud Functions reads; Admin Activity audit logs already record both.
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  # Old archives stay readable for a rollback for a while after a redeploy replaces them.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

# The object name carries the archive's hash: Cloud Functions rebuilds only when the source
# object it points at changes name.
resource "google_storage_bucket_object" "source" {
  for_each = data.archive_file.source

  name   = "${each.key}-${each.value.output_md5}.zip"
  bucket = google_storage_bucket.sources.name
  source = each.value.output_path
}

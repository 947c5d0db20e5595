# The media bucket (docs/media.md): uploads arrive through resumable sessions the api creates;
# Meta fetches through V4 signed URLs; nothing is public. The functions that publish sign those
# URLs through IAM signBlob as themselves (no key file exists), so each needs the Token Creator
# role on its own account only, and read access to the bucket (a signed URL carries the
# signer's permissions).

locals {
  media_bucket_name = "${var.project_id}-${var.name_prefix}-media"
  # Functions that publish (sign URLs, read objects) and the one that uploads and sweeps.
  media_signers = [for fn in ["run_tick", "run_http", "publish"] : fn if contains(keys(local.function_names), fn)]
  media_environment = {
    MEDIA_BUCKET          = local.media_bucket_name
    MEDIA_URL_TTL_SECONDS = tostring(var.media_url_ttl_seconds)
    MEDIA_RETENTION_DAYS  = tostring(var.media_retention_days)
  }
}

resource "google_storage_bucket" "media" {
  # checkov:skip=CKV_GCP_62:Object access is by the functions' own accounts and by signed URLs; Data Access audit logs can be enabled project-wide if needed, a log bucket would double the storage bill.
  # checkov:skip=CKV_GCP_78:Versioning is off on purpose: a deleted media item (retention) must really be gone, and every object is written once.
  name                        = local.media_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = false
  }

  # The sweep (socialsched media sweep) deletes what posts no longer use, by record; the bucket
  # itself only drops what never became an object's final state: parts of abandoned uploads.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # The web app's composer PUTs uploads from the browser (its origin always; more by variable).
  cors {
    origin          = distinct(concat([local.web_base_url], var.media_cors_origins))
    method          = ["PUT"]
    response_header = ["Content-Type", "Content-Range", "X-Goog-Upload-Status"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.this]
}

# The api creates upload sessions, reads uploads to check them, writes converted copies and
# deletes on sweep: storage.objects.create, get and delete (common/storage.py makes no other
# call). Object User holds those (Google's "IAM roles for Cloud Storage": create, view, list,
# update and delete objects, not get or set ACLs or IAM policies); Object Admin's only extra,
# object ACLs and IAM policies, does nothing on a bucket of uniform access.
resource "google_storage_bucket_iam_member" "media_api" {
  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.function["api"].email}"
}

# The web app creates upload sessions and completes them (checks, copies) like the api.
resource "google_storage_bucket_iam_member" "media_web" {
  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.function["web"].email}"
}

resource "google_storage_bucket_iam_member" "media_reader" {
  for_each = toset([for fn in local.media_signers : fn if fn != "run_tick"])

  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function[each.value].email}"
}

# run_tick also answers the daily sweep message, which deletes objects: Object User (read, write,
# delete objects; no bucket or IAM administration) instead of the viewer role the others have.
resource "google_storage_bucket_iam_member" "media_sweeper" {
  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.function["run_tick"].email}"
}

# signBlob as itself: the Token Creator role granted on the function's own account, not the
# project, so no function can sign as another.
resource "google_service_account_iam_member" "media_self_signer" {
  for_each = toset(local.media_signers)

  service_account_id = google_service_account.function[each.value].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function[each.value].email}"
}

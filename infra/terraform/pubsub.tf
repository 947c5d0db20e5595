resource "google_pubsub_topic" "ticks" {
  # checkov:skip=CKV_GCP_83:A tick carries no data beyond its schedule; Google-managed encryption is enough.
  name   = "${var.name_prefix}-ticks"
  labels = local.labels

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "events" {
  # checkov:skip=CKV_GCP_83:Outcome events hold post ids and states, never post text or tokens; Google-managed encryption is enough.
  count = var.enable_events_topic ? 1 : 0

  name   = "${var.name_prefix}-events"
  labels = local.labels

  depends_on = [google_project_service.this]
}

# Cloud Scheduler publishes with its own service agent (roles/cloudscheduler.serviceAgent), so
# the job needs no service account of ours.
resource "google_cloud_scheduler_job" "tick" {
  name        = "${var.name_prefix}-tick"
  description = "Publishes the tick that makes the run function publish due posts."
  region      = var.region
  schedule    = var.tick_schedule
  time_zone   = var.tick_time_zone

  # A failed publish is retried a few times within the minute; a lost tick is covered by the next.
  retry_config {
    retry_count          = 3
    max_retry_duration   = "40s"
    min_backoff_duration = "5s"
    max_backoff_duration = "20s"
  }

  pubsub_target {
    topic_name = google_pubsub_topic.ticks.id
    data       = base64encode(jsonencode({ kind = "tick" }))
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.this]
}

# Once a day the same topic carries {"kind": "media-sweep"}: the run function deletes abandoned
# uploads and media no unfinished post uses (at most 100 of each; docs/media.md) instead of
# running the scheduler. Its own job, so no tick pays for the sweep; a missed day is caught up by
# the next one.
resource "google_cloud_scheduler_job" "media_sweep" {
  name        = "${var.name_prefix}-media-sweep"
  description = "Asks the run function to sweep unused media once a day."
  region      = var.region
  schedule    = var.media_sweep_schedule
  time_zone   = var.tick_time_zone

  retry_config {
    retry_count          = 3
    max_retry_duration   = "600s"
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  pubsub_target {
    topic_name = google_pubsub_topic.ticks.id
    data       = base64encode(jsonencode({ kind = "media-sweep" }))
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.this]
}

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

# The scheduled messages on the tick topic, each job named for the kind it sends. Every
# tick_schedule a tick: the run function publishes due posts. Once a day {"kind":
# "media-sweep"}: the run function deletes abandoned uploads and media no unfinished post uses
# (at most 100 of each; docs/media.md) instead of running the scheduler; its own job, so no
# tick pays for the sweep, and a missed day is caught up by the next one.
locals {
  scheduler_jobs = {
    tick = {
      kind        = "tick"
      description = "Publishes the tick that makes the run function publish due posts."
      schedule    = var.tick_schedule
      # A failed publish is retried a few times within the minute; a lost tick is covered by
      # the next.
      retry = { max_duration = "40s", min_backoff = "5s", max_backoff = "20s" }
    }
    media_sweep = {
      kind        = "media-sweep"
      description = "Asks the run function to sweep unused media once a day."
      schedule    = var.media_sweep_schedule
      retry       = { max_duration = "600s", min_backoff = "30s", max_backoff = "300s" }
    }
  }
}

# Cloud Scheduler publishes with its own service agent (roles/cloudscheduler.serviceAgent), so
# the jobs need no service account of ours.
resource "google_cloud_scheduler_job" "this" {
  for_each = local.scheduler_jobs

  name        = "${var.name_prefix}-${each.value.kind}"
  description = each.value.description
  region      = var.region
  schedule    = each.value.schedule
  time_zone   = var.tick_time_zone

  retry_config {
    retry_count          = 3
    max_retry_duration   = each.value.retry.max_duration
    min_backoff_duration = each.value.retry.min_backoff
    max_backoff_duration = each.value.retry.max_backoff
  }

  pubsub_target {
    topic_name = google_pubsub_topic.ticks.id
    data       = base64encode(jsonencode({ kind = each.value.kind }))
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.this]
}

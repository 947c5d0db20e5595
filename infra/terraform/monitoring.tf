# Log-based metrics and alerts. They rely on the run function's log contract (README: "Log
# contract"): one structured JSON line per finished run with message "run finished", the run's
# status ("ok" | "error" | "lock_lost"), its trigger ("tick" | "manual") and its counts (failed,
# unknown, ...). Cloud Logging puts those fields under jsonPayload.

locals {
  run_services_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    # service_config[0].service is the full projects/.../services/NAME path; the log label
    # holds only NAME.
    "resource.labels.service_name=(\"${basename(google_cloudfunctions2_function.run_tick.service_config[0].service)}\" OR \"${basename(google_cloudfunctions2_function.run_http.service_config[0].service)}\")",
    # Only what the application itself wrote. Cloud Run also logs every request of the service
    # (run.googleapis.com/requests) at ERROR for a 5xx and WARNING for a 429, which would count
    # each failed delivery a second time and a cold-start queue overflow as a failed run.
    "logName=(\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\" OR \"projects/${var.project_id}/logs/run.googleapis.com%2Fstderr\")",
  ])
  run_finished_filter = "${local.run_services_filter} AND jsonPayload.message=\"run finished\""
  metric_prefix       = "logging.googleapis.com/user"
}

# A run that ended badly, or anything the run functions logged at ERROR or above (an exception
# before the run could record itself, a lost lock, a lost lease).
resource "google_logging_metric" "runs_failed" {
  name        = "${var.name_prefix}_runs_failed"
  description = "Runs that finished with a status other than ok, and ERROR logs of the run functions."
  filter      = "${local.run_services_filter} AND ((jsonPayload.message=\"run finished\" AND NOT jsonPayload.status=\"ok\") OR severity>=ERROR)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.this]
}

# Runs that left at least one post failed (permanent error, attempts used up) or unknown
# (outcome ambiguous: needs an operator to look before any retry).
resource "google_logging_metric" "runs_with_failed_posts" {
  name        = "${var.name_prefix}_runs_with_failed_posts"
  description = "Runs in which at least one post ended failed or unknown."
  filter      = "${local.run_finished_filter} AND (jsonPayload.failed>0 OR jsonPayload.unknown>0)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.this]
}

# Tick-triggered runs that finished ok: the heartbeat the dead-man's switch watches.
resource "google_logging_metric" "tick_runs_ok" {
  name        = "${var.name_prefix}_tick_runs_ok"
  description = "Tick-triggered runs that finished with status ok."
  filter      = "${local.run_finished_filter} AND jsonPayload.trigger=\"tick\" AND jsonPayload.status=\"ok\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.this]
}

# A new log-based metric can take minutes before alert policies may name it (the API answers
# 404 "Cannot find metric(s)"; terraform-provider-google issue 11102): wait once after creating
# the metrics so the first `terraform apply` succeeds.
resource "time_sleep" "log_metrics" {
  create_duration = "120s"
  depends_on = [
    google_logging_metric.runs_failed,
    google_logging_metric.runs_with_failed_posts,
    google_logging_metric.tick_runs_ok,
    google_logging_metric.api_server_errors,
  ]
}

resource "google_monitoring_alert_policy" "runs_failed" {
  depends_on = [time_sleep.log_metrics]

  display_name          = "${var.name_prefix}: scheduler run failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "A run failed or the run functions logged an error"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}/${google_logging_metric.runs_failed.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A scheduler run failed. Look at the run functions' logs for `jsonPayload.message=\"run finished\"` with a status other than ok, and at ERROR entries. The status function shows lastRunStatus and lastRunError."
  }
}

resource "google_monitoring_alert_policy" "posts_failed" {
  depends_on = [time_sleep.log_metrics]

  display_name          = "${var.name_prefix}: posts ended failed or unknown"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "A run left posts failed or unknown"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}/${google_logging_metric.runs_with_failed_posts.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Posts ended `failed` (permanent error or attempts used up) or `unknown` (the platform may or may not have published: check the page before `socialsched posts retry`). List them with `socialsched posts list`."
  }
}

# Dead-man's switch: the failure users of schedulers complain about most is one that silently
# stopped. This fires when no tick-triggered run has finished ok for the window, whatever the
# cause (Scheduler paused or deleted, trigger broken, function crashing, database down, lock
# stuck). The series are summed across revisions so a redeploy does not look like a gap.
#
# A threshold condition, not condition_absent: whether a log-based counter writes zeros in
# minutes without a matching line is not documented, and a series of zeros is never "absent".
# "Fewer than 1 ok run in every minute of the window" fires on zeros, and
# EVALUATION_MISSING_DATA_ACTIVE makes it fire on no data at all (no series yet, or one that
# stopped), so it also holds before the first run ever reported.
resource "google_monitoring_alert_policy" "no_successful_run" {
  depends_on = [time_sleep.log_metrics]

  display_name          = "${var.name_prefix}: no successful run for ${var.dead_mans_switch_minutes} minutes"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "No tick-triggered run finished ok"
    condition_threshold {
      filter                  = "metric.type=\"${local.metric_prefix}/${google_logging_metric.tick_runs_ok.name}\" AND resource.type=\"cloud_run_revision\""
      comparison              = "COMPARISON_LT"
      threshold_value         = 1
      duration                = "${var.dead_mans_switch_minutes * 60}s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_ACTIVE"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "No scheduled run has succeeded recently. Check in order: the Cloud Scheduler job (paused? failing to publish?), the run-tick function's logs (crashing? skipped because the lock is held?), the status function (lastRunAt, lastRunStatus, lock)."
  }

  lifecycle {
    # A window shorter than one tick period would fire between two healthy ticks.
    precondition {
      condition     = var.dead_mans_switch_minutes * 60 > local.tick_interval_seconds
      error_message = "dead_mans_switch_minutes must be longer than one tick period (tick_schedule)."
    }
  }
}

# The api answering 5xx: a failure of ours (refusals are 4xx). Counted from Cloud Run's request
# log of the api service, which logs every request with its status.
resource "google_logging_metric" "api_server_errors" {
  name        = "${var.name_prefix}_api_server_errors"
  description = "Requests the api function answered with a 5xx status."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${basename(google_cloudfunctions2_function.api.service_config[0].service)}\"",
    "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\"",
    "httpRequest.status>=500",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "api_server_errors" {
  depends_on = [time_sleep.log_metrics]

  display_name          = "${var.name_prefix}: api answered 5xx"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "The api function answered with a server error"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}/${google_logging_metric.api_server_errors.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The api function answered 5xx (503: the database did not answer; 500: a bug). Look at the api function's ERROR logs by their requestId."
  }
}

# Log-based metrics and alerts. They rely on the run function's log contract (README: "Log
# contract"): one structured JSON line per finished run with message "run finished", the run's
# status ("ok" | "error" | "lock_lost"), its trigger ("tick" | "manual") and its counts (failed,
# unknown, ...). Cloud Logging puts those fields under jsonPayload.

locals {
  # Each function's Cloud Run service as its log entries name it: service_config[0].service is
  # the full projects/.../services/NAME path; the log label holds only NAME.
  service_log_names = {
    for key in keys(local.functions) : key => basename(google_cloudfunctions2_function.this[key].service_config[0].service)
  }

  # Only what the application itself wrote. Cloud Run also logs every request of the service
  # (run.googleapis.com/requests) at ERROR for a 5xx and WARNING for a 429, which would count
  # each failed delivery a second time and a cold-start queue overflow as a failed run.
  application_logs = "logName=(\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\" OR \"projects/${var.project_id}/logs/run.googleapis.com%2Fstderr\")"

  run_services_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(\"${local.service_log_names["run_tick"]}\" OR \"${local.service_log_names["run_http"]}\")",
    local.application_logs,
  ])
  run_finished_filter = "${local.run_services_filter} AND jsonPayload.message=\"run finished\""
  metric_prefix       = "logging.googleapis.com/user"

  # Thresholds of the tasks mode's alerts (README: "Alerts").
  publish_server_errors_per_window = 10
  queue_failed_attempts_per_window = 10
  queue_max_delay_seconds          = 60

  # Cloud Run's own request log of one service: every request with its status, whatever the
  # code did (a refusal by the ingress or the invoker check never reaches the code).
  request_log_filter = {
    for key, service in local.service_log_names : key => join(" AND ", [
      "resource.type=\"cloud_run_revision\"",
      "resource.labels.service_name=\"${service}\"",
      "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\"",
    ])
  }
}

# The log-based metrics, each a count of matching lines named "<name_prefix>_<key>", and the
# alerts. The publish function's exist with dispatch = "tasks" only.
locals {
  log_metrics = merge(local.base_log_metrics, local.publish_log_metrics)

  base_log_metrics = {
    # A run that ended badly, or anything the run functions logged at ERROR or above (an
    # exception before the run could record itself, a lost lock, a lost lease).
    runs_failed = {
      description = "Runs that finished with a status other than ok, and ERROR logs of the run functions."
      filter      = "${local.run_services_filter} AND ((jsonPayload.message=\"run finished\" AND NOT jsonPayload.status=\"ok\") OR severity>=ERROR)"
    }
    # Runs that left at least one post failed (permanent error, attempts used up) or unknown
    # (outcome ambiguous: needs an operator to look before any retry).
    runs_with_failed_posts = {
      description = "Runs in which at least one post ended failed or unknown."
      filter      = "${local.run_finished_filter} AND (jsonPayload.failed>0 OR jsonPayload.unknown>0)"
    }
    # Tick-triggered runs that finished ok: the heartbeat the dead-man's switch watches.
    tick_runs_ok = {
      description = "Tick-triggered runs that finished with status ok."
      filter      = "${local.run_finished_filter} AND jsonPayload.trigger=\"tick\" AND jsonPayload.status=\"ok\""
    }
    # The api answering 5xx: a failure of ours (refusals are 4xx), from Cloud Run's request
    # log of the api service, which logs every request with its status.
    api_server_errors = {
      description = "Requests the api function answered with a 5xx status."
      filter      = "${local.request_log_filter["api"]} AND httpRequest.status>=500"
    }
  }

  # dispatch = "tasks": the publish function's answers. A post that publishes through a task
  # never shows in the run log, so these are the tasks mode's own. (Conditional here: they
  # name the publish function, which exists in tasks mode only.)
  publish_log_metrics = local.tasks_enabled ? {
    # Refusals: Cloud Tasks' deliveries answered 4xx (the token, its audience, the ingress
    # or the invoker check refused them, or the task body was malformed). Cloud Tasks
    # retries them until max_retry_duration, and the posts wait for the tick's sweep. 429
    # (no instance free) is Cloud Run's back-pressure and is retried by design, so it does
    # not count.
    publish_refused = {
      description = "Deliveries the publish function (or Cloud Run in front of it) answered 4xx other than 429."
      filter      = "${local.request_log_filter["publish"]} AND httpRequest.status>=400 AND httpRequest.status<500 AND httpRequest.status!=429"
    }
    # Server errors: 503 is publish's "in progress elsewhere or database away, retry", the
    # rest a failure (500) or a timeout (504). A few are normal; a steady stream is not.
    publish_server_errors = {
      description = "Deliveries the publish function answered 5xx."
      filter      = "${local.request_log_filter["publish"]} AND httpRequest.status>=500"
    }
    # Posts the publish function left failed or unknown: its "task handled" line per task
    # (common/entrypoints/publish_http.py) carries the outcome.
    publish_posts_failed = {
      description = "Posts the publish function left failed or unknown."
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "resource.labels.service_name=\"${local.service_log_names["publish"]}\"",
        local.application_logs,
        "jsonPayload.message=\"task handled\"",
        "jsonPayload.outcome=(\"failed\" OR \"unknown\")",
      ])
    }
  } : {}

  # Every alert policy: its name after "<prefix>: ", its severity, its conditions and what to
  # do. A condition counts a log metric (metric) or what its own filter names, as
  # local.alert_condition below unless it says otherwise. The publish function's and the
  # queue's exist with dispatch = "tasks" only.
  alerts = merge(local.base_alerts, { for key, alert in local.publish_alerts : key => alert if local.tasks_enabled })

  # A condition unless it says otherwise: the sum over five minutes above 0, across series (a
  # log metric has one per revision, so a redeploy is no gap).
  alert_condition = {
    metric        = null
    filter        = null
    comparison    = "COMPARISON_GT"
    threshold     = 0
    duration      = "0s"
    missing_data  = null
    period        = "300s"
    aligner       = "ALIGN_SUM"
    reducer       = "REDUCE_SUM"
    group_by      = null
    trigger_count = null
  }

  base_alerts = {
    runs_failed = {
      display_name = "scheduler run failed"
      severity     = "ERROR"
      conditions   = [{ metric = "runs_failed", display_name = "A run failed or the run functions logged an error" }]
      help         = "A scheduler run failed. Look at the run functions' logs for `jsonPayload.message=\"run finished\"` with a status other than ok, and at ERROR entries. The status function shows lastRunStatus and lastRunError."
    }
    posts_failed = {
      display_name = "posts ended failed or unknown"
      severity     = "WARNING"
      # With dispatch = "tasks" most posts are published by the publish function, one per task.
      conditions = concat(
        [{ metric = "runs_with_failed_posts", display_name = "A run left posts failed or unknown" }],
        local.tasks_enabled ? [{ metric = "publish_posts_failed", display_name = "The publish function left a post failed or unknown" }] : [],
      )
      help = "Posts ended `failed` (permanent error or attempts used up) or `unknown` (the platform may or may not have published: check the page before `socialsched posts retry`). List them with `socialsched posts list`."
    }
    api_server_errors = {
      display_name = "api answered 5xx"
      severity     = "ERROR"
      conditions   = [{ metric = "api_server_errors", display_name = "The api function answered with a server error" }]
      help         = "The api function answered 5xx (503: the database did not answer; 500: a bug). Look at the api function's ERROR logs by their requestId."
    }
    # Dead-man's switch: the failure users of schedulers complain about most is one that
    # silently stopped. This fires when no tick-triggered run has finished ok for the window,
    # whatever the cause (Scheduler paused or deleted, trigger broken, function crashing,
    # database down, lock stuck).
    #
    # A threshold condition, not condition_absent: whether a log-based counter writes zeros in
    # minutes without a matching line is not documented, and a series of zeros is never
    # "absent". "Fewer than 1 ok run in every minute of the window" fires on zeros, and
    # EVALUATION_MISSING_DATA_ACTIVE makes it fire on no data at all (no series yet, or one that
    # stopped), so it also holds before the first run ever reported. The window is checked
    # against run_tick's timeout by the policy's precondition.
    no_successful_run = {
      display_name = "no successful run for ${var.dead_mans_switch_minutes} minutes"
      severity     = "CRITICAL"
      conditions = [{
        metric        = "tick_runs_ok"
        display_name  = "No tick-triggered run finished ok"
        comparison    = "COMPARISON_LT"
        threshold     = 1
        duration      = "${var.dead_mans_switch_minutes * 60}s"
        missing_data  = "EVALUATION_MISSING_DATA_ACTIVE"
        period        = "60s"
        trigger_count = 1
      }]
      help = "No scheduled run has succeeded recently. Check in order: the Cloud Scheduler job (paused? failing to publish?), the run-tick function's logs (crashing? skipped because the lock is held?), the status function (lastRunAt, lastRunStatus, lock)."
    }
    # Google's uptime alert shape: more than one region failing the check for 10 minutes.
    status_down = {
      display_name = "status does not answer"
      severity     = "ERROR"
      conditions = [{
        display_name  = "The status uptime check fails"
        filter        = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.status.uptime_check_id}\""
        threshold     = 1
        duration      = "600s"
        period        = "1200s"
        aligner       = "ALIGN_NEXT_OLDER"
        reducer       = "REDUCE_COUNT_FALSE"
        group_by      = ["resource.label.*"]
        trigger_count = 1
      }]
      help = "The public status function does not answer 2xx from outside: 503 means it cannot reach MongoDB (the scheduler cannot either); 403 means it is no longer public (README: \"Making the public functions public where the organisation forbids allUsers\"); a timeout or 5xx, look at its logs."
    }
  }

  publish_alerts = {
    publish_refused = {
      display_name = "publish refuses Cloud Tasks' deliveries"
      severity     = "CRITICAL"
      conditions   = [{ metric = "publish_refused", display_name = "The publish function answered 4xx" }]
      help         = "Cloud Tasks' deliveries to the publish function are refused, so tasks mode publishes nothing until the tick's sweep. Look at the publish service's request log: 401/403 with a log line from the function means the token's claims (TASKS_AUDIENCE, TASKS_SERVICE_ACCOUNT, TASKS_INVOKER_CHECK); 403/404 without one means Cloud Run refused it (ingress, or roles/run.invoker of the tasks service account). README: \"Publish: who may call it\"."
    }
    publish_server_errors = {
      display_name = "publish answers 5xx"
      severity     = "ERROR"
      conditions   = [{ metric = "publish_server_errors", threshold = local.publish_server_errors_per_window, display_name = "More than ${local.publish_server_errors_per_window} 5xx answers in 5 minutes" }]
      help         = "The publish function answers 5xx to many deliveries: 503 (database away, or posts held by another claimer), 500 (a bug: ERROR logs by requestId) or 504 (timeouts). Cloud Tasks retries each until max_retry_duration; after that the tick's sweep publishes what is left."
    }
    # The queue, from Cloud Tasks' own metrics: attempts that did not succeed (whatever the
    # answer, or none before the dispatch deadline), and attempts dispatched late (the queue is
    # behind: rate limits, max_concurrent_dispatches, or a publish function at max_instances).
    queue = {
      display_name = "the publish queue fails or falls behind"
      severity     = "ERROR"
      conditions = [
        {
          display_name = "More than ${local.queue_failed_attempts_per_window} failed attempts in 5 minutes"
          filter       = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_count\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.queue_id=\"${google_cloud_tasks_queue.publish.name}\" AND metric.label.response_code!=\"ok\""
          threshold    = local.queue_failed_attempts_per_window
        },
        {
          display_name = "Attempts dispatched more than ${local.queue_max_delay_seconds} s after their time"
          filter       = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.queue_id=\"${google_cloud_tasks_queue.publish.name}\""
          threshold    = local.queue_max_delay_seconds * 1000
          duration     = "300s"
          aligner      = "ALIGN_PERCENTILE_95"
          reducer      = "REDUCE_MAX"
        },
      ]
      help = "The publish queue's attempts fail (see the publish alerts and its request log) or leave late: check the queue in the console (Cloud Tasks > ${google_cloud_tasks_queue.publish.name}: tasks, oldest task, attempts), the publish function's instance count against publish_service.max_instances, and the queue's rate limits (tasks_queue)."
    }
  }
}

resource "google_logging_metric" "this" {
  for_each = local.log_metrics

  name        = "${var.name_prefix}_${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.this]
}

# A new log-based metric can take minutes before alert policies may name it (the API answers
# 404 "Cannot find metric(s)"; terraform-provider-google issue 11102): wait after creating the
# metrics. The triggers name every metric, so a metric added by a later apply (a new one here,
# or the publish metrics when dispatch turns to tasks) replaces the wait and its alert waits
# too; without them the wait would run on the first apply only.
resource "time_sleep" "log_metrics" {
  create_duration = "120s"
  triggers = {
    metrics = join(",", sort([for metric in google_logging_metric.this : metric.id]))
  }
}

resource "google_monitoring_alert_policy" "this" {
  for_each   = local.alerts
  depends_on = [time_sleep.log_metrics]

  display_name          = "${var.name_prefix}: ${each.value.display_name}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = var.notification_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = [for condition in each.value.conditions : merge(local.alert_condition, condition)]
    content {
      display_name = conditions.value.display_name
      condition_threshold {
        filter                  = conditions.value.metric == null ? conditions.value.filter : "metric.type=\"${local.metric_prefix}/${google_logging_metric.this[conditions.value.metric].name}\" AND resource.type=\"cloud_run_revision\""
        comparison              = conditions.value.comparison
        threshold_value         = conditions.value.threshold
        duration                = conditions.value.duration
        evaluation_missing_data = conditions.value.missing_data
        aggregations {
          alignment_period     = conditions.value.period
          per_series_aligner   = conditions.value.aligner
          cross_series_reducer = conditions.value.reducer
          group_by_fields      = conditions.value.group_by
        }
        dynamic "trigger" {
          for_each = conditions.value.trigger_count == null ? [] : [conditions.value.trigger_count]
          content {
            count = trigger.value
          }
        }
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.help
  }

  lifecycle {
    # A healthy scheduler logs an ok tick run at least once per run plus a tick: a run that
    # uses its whole timeout holds the lock (the ticks meanwhile are skipped and log nothing),
    # and the next tick's run logs the next line. A shorter window fires on a healthy system.
    precondition {
      condition     = each.key != "no_successful_run" || var.dead_mans_switch_minutes * 60 > var.run_tick_service.timeout_seconds + local.tick_interval_seconds
      error_message = "dead_mans_switch_minutes must be longer than one full run_tick timeout plus one tick period (tick_schedule): ${ceil((var.run_tick_service.timeout_seconds + local.tick_interval_seconds) / 60)} minutes or more."
    }
  }
}

# The status function from outside, as a user sees it: every five minutes from three regions.
# It answers 503 when it cannot reach the database, so this also watches MongoDB.
resource "google_monitoring_uptime_check_config" "status" {
  display_name = "${var.name_prefix}: status answers"
  timeout      = "10s"
  period       = "300s"
  user_labels  = local.labels

  selected_regions = ["EUROPE", "USA_OREGON", "ASIA_PACIFIC"]

  http_check {
    path         = "/"
    port         = 443
    use_ssl      = true
    validate_ssl = true
    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = trimprefix(google_cloudfunctions2_function.this["status"].service_config[0].uri, "https://")
    }
  }

  depends_on = [google_project_service.this]
}

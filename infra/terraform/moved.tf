# Where earlier versions of this configuration kept what is now elsewhere, so `terraform apply`
# on an existing deployment moves the state instead of destroying and recreating: the
# functions became one for_each (functions.tf), the public-access resources one per public
# function (iam.tf), the queue left its count (it exists in both dispatch modes, tasks.tf), the
# log metrics and the alert policies became one for_each each (monitoring.tf), and so did
# the scheduler jobs (pubsub.tf). Keep them while a deployment applied before those changes
# (2026-12-03) may exist: without them its next plan would destroy each of these resources and
# create it anew under the same name (README: "Later applies"). A moved block takes no
# for_each, hence one block per address.
moved {
  from = google_cloudfunctions2_function.run_tick
  to   = google_cloudfunctions2_function.this["run_tick"]
}

moved {
  from = google_cloudfunctions2_function.run_http
  to   = google_cloudfunctions2_function.this["run_http"]
}

moved {
  from = google_cloudfunctions2_function.status
  to   = google_cloudfunctions2_function.this["status"]
}

moved {
  from = google_cloudfunctions2_function.api
  to   = google_cloudfunctions2_function.this["api"]
}

moved {
  from = google_cloudfunctions2_function.publish[0]
  to   = google_cloudfunctions2_function.this["publish"]
}

moved {
  from = google_cloud_run_service_iam_member.status_public[0]
  to   = google_cloud_run_service_iam_member.public["status"]
}

moved {
  from = google_cloud_run_service_iam_member.api_public[0]
  to   = google_cloud_run_service_iam_member.public["api"]
}

moved {
  from = terraform_data.status_invoker_check_disabled[0]
  to   = terraform_data.invoker_check_disabled["status"]
}

moved {
  from = terraform_data.api_invoker_check_disabled[0]
  to   = terraform_data.invoker_check_disabled["api"]
}

moved {
  from = google_cloud_tasks_queue.publish[0]
  to   = google_cloud_tasks_queue.publish
}

moved {
  from = google_logging_metric.runs_failed
  to   = google_logging_metric.this["runs_failed"]
}

moved {
  from = google_logging_metric.runs_with_failed_posts
  to   = google_logging_metric.this["runs_with_failed_posts"]
}

moved {
  from = google_logging_metric.tick_runs_ok
  to   = google_logging_metric.this["tick_runs_ok"]
}

moved {
  from = google_logging_metric.api_server_errors
  to   = google_logging_metric.this["api_server_errors"]
}

moved {
  from = google_logging_metric.publish_refused[0]
  to   = google_logging_metric.this["publish_refused"]
}

moved {
  from = google_logging_metric.publish_server_errors[0]
  to   = google_logging_metric.this["publish_server_errors"]
}

moved {
  from = google_logging_metric.publish_posts_failed[0]
  to   = google_logging_metric.this["publish_posts_failed"]
}

moved {
  from = google_monitoring_alert_policy.runs_failed
  to   = google_monitoring_alert_policy.this["runs_failed"]
}

moved {
  from = google_monitoring_alert_policy.posts_failed
  to   = google_monitoring_alert_policy.this["posts_failed"]
}

moved {
  from = google_monitoring_alert_policy.api_server_errors
  to   = google_monitoring_alert_policy.this["api_server_errors"]
}

moved {
  from = google_monitoring_alert_policy.publish_refused[0]
  to   = google_monitoring_alert_policy.this["publish_refused"]
}

moved {
  from = google_monitoring_alert_policy.publish_server_errors[0]
  to   = google_monitoring_alert_policy.this["publish_server_errors"]
}

moved {
  from = google_monitoring_alert_policy.no_successful_run
  to   = google_monitoring_alert_policy.this["no_successful_run"]
}

moved {
  from = google_monitoring_alert_policy.queue[0]
  to   = google_monitoring_alert_policy.this["queue"]
}

moved {
  from = google_monitoring_alert_policy.status_down
  to   = google_monitoring_alert_policy.this["status_down"]
}

moved {
  from = google_cloud_scheduler_job.tick
  to   = google_cloud_scheduler_job.this["tick"]
}

moved {
  from = google_cloud_scheduler_job.media_sweep
  to   = google_cloud_scheduler_job.this["media_sweep"]
}

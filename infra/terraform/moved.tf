# Where earlier versions of this configuration kept what is now elsewhere, so `terraform apply`
# on an existing deployment moves the state instead of destroying and recreating: the
# functions became one for_each (functions.tf), the public-access resources one per public
# function (iam.tf), and the queue left its count (it exists in both dispatch modes, tasks.tf).
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

output "status_url" {
  description = "Public URL of the status function (GET)."
  value       = google_cloudfunctions2_function.this["status"].service_config[0].uri
}

output "run_http_url" {
  description = "URL of the manual-run function (POST with an admin token; an ID token too unless run_http_invokers is allUsers). Set it as SOCIALSCHED_RUN_URL for the CLI."
  value       = google_cloudfunctions2_function.this["run_http"].service_config[0].uri
}

output "api_url" {
  description = "URL of the api function (/v1; API keys or admin JWTs). Set it as SOCIALSCHED_API_URL for the CLI."
  value       = google_cloudfunctions2_function.this["api"].service_config[0].uri
}

output "web_url" {
  description = "The web app's URL (WEB_BASE_URL): open it to sign in."
  value       = local.web_base_url
}

output "oidc_redirect_uri" {
  description = "The redirect URI to register on the Google OAuth client (Google Auth Platform > Clients)."
  value       = "${local.web_base_url}/signin/oidc/callback"
}

output "connect_redirect_uris" {
  description = "The web app's redirect URIs to register as Valid OAuth Redirect URIs: on the Meta app (Facebook Login) and on the Threads app. Mastodon instances get theirs when the app registers itself."
  value = {
    meta    = "${local.web_base_url}/accounts/oauth/meta/callback"
    threads = "${local.web_base_url}/accounts/oauth/threads/callback"
  }
}

output "function_names" {
  description = "Names of the deployed functions (and of their Cloud Run services)."
  value       = { for key, fn in google_cloudfunctions2_function.this : key => fn.name }
}

output "tasks_queue" {
  description = "The publish queue (kept in both dispatch modes; used with dispatch = tasks)."
  value       = google_cloud_tasks_queue.publish.id
}

output "publish_url" {
  description = "URL and OIDC audience of every task (dispatch = tasks), or null. The smoke test's PUBLISH_URL."
  value       = local.tasks_enabled ? local.publish_url : null
}

output "service_accounts" {
  description = "Emails of the service accounts this stack created."
  value = merge(
    { for k, sa in google_service_account.function : k => sa.email },
    {
      trigger = google_service_account.trigger.email
      builder = google_service_account.builder.email
      tasks   = one(google_service_account.tasks[*].email)
    },
  )
}

output "secret_ids" {
  description = "Secret Manager secret ids by environment variable name. Add a version to each before the first full apply (README)."
  value       = { for name, s in google_secret_manager_secret.this : name => s.secret_id }
}

output "tick_topic" {
  description = "Full name of the tick topic."
  value       = google_pubsub_topic.ticks.id
}

output "events_topic" {
  description = "Full name of the outcome events topic, or null when disabled."
  value       = one(google_pubsub_topic.events[*].id)
}

output "scheduler_job" {
  description = "Name of the Cloud Scheduler job that publishes ticks."
  value       = google_cloud_scheduler_job.this["tick"].name
}

output "source_bucket" {
  description = "Bucket that holds the function source archives."
  value       = google_storage_bucket.sources.name
}

output "image_repository" {
  description = "Artifact Registry repository the function builds push to (old images cleaned up)."
  value       = google_artifact_registry_repository.functions.id
}

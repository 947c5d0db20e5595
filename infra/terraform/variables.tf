variable "project_id" {
  description = "The Google Cloud project that holds everything."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits and dashes)."
  }
}

variable "region" {
  description = "Region of the functions, the Scheduler job and the Eventarc trigger."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name. It also prefixes service account ids, hence the length limit."
  type        = string
  default     = "socialsched"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 4-20 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels put on every resource that takes labels (app and managed-by are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys and values must be lowercase letters, digits, dashes and underscores (keys start with a letter)."
  }
}

variable "mongo_db" {
  description = "MongoDB database name (MONGO_DB). The connection string itself is the MONGO_URI secret."
  type        = string
  default     = "social_scheduler"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,63}$", var.mongo_db))
    error_message = "mongo_db must be 1-63 letters, digits, dashes or underscores."
  }
}

variable "meta_api_version" {
  description = "Graph API version the platform adapters call (META_API_VERSION)."
  type        = string
  default     = "v25.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+$", var.meta_api_version))
    error_message = "meta_api_version must look like v25.0."
  }
}

variable "tick_schedule" {
  description = "Unix-cron schedule of the tick: every minute (\"* * * * *\") or every N minutes (\"*/N * * * *\"). Posts are published at the first tick after they fall due."
  type        = string
  default     = "* * * * *"

  validation {
    condition     = can(regex("^(\\*|\\*/([1-9]|[1-5][0-9])) \\* \\* \\* \\*$", var.tick_schedule))
    error_message = "tick_schedule must be \"* * * * *\" or \"*/N * * * *\" with N from 1 to 59."
  }
}

variable "tick_time_zone" {
  description = "Time zone the tick schedule is read in (a tz database name). UTC avoids DST skips and doubles."
  type        = string
  default     = "Etc/UTC"
}

variable "tick_max_age_seconds" {
  description = "A tick older than this is acknowledged without running (TICK_MAX_AGE_SECONDS). It bounds how long a retried tick keeps being redelivered."
  type        = number
  default     = 300

  validation {
    condition     = var.tick_max_age_seconds >= 60 && var.tick_max_age_seconds <= 3600
    error_message = "tick_max_age_seconds must be between 60 and 3600."
  }
}

variable "lock_ttl_seconds" {
  description = "Execution lock time-to-live (LOCK_TTL_SECONDS). A live run renews it every third of this, so it need not exceed the function timeout."
  type        = number
  default     = 300

  validation {
    condition     = var.lock_ttl_seconds >= 60 && var.lock_ttl_seconds <= 3600
    error_message = "lock_ttl_seconds must be between 60 and 3600."
  }
}

# The functions' runtimes (run_tick, run_http, status, api, publish, web). Each is checked
# against Cloud Run's limits and its trigger's timeouts by modules/function_runtime, with the
# ranges in local.function_timeouts (functions.tf).
variable "run_tick_service" {
  description = "Runtime of the on_tick function. Event functions stop at 540 s; the run budget is the timeout minus a reserve for the last platform call."
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 300)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 3)
    concurrency     = optional(number, 1)
  })
  default = {}
}

variable "run_http_service" {
  description = "Runtime of the run_http function (manual runs). HTTP functions may run up to 3600 s."
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 300)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 2)
    concurrency     = optional(number, 1)
  })
  default = {}
}

variable "status_service" {
  description = "Runtime of the public status function. It is read-only and cheap, so it serves several requests per instance."
  type = object({
    memory          = optional(string, "256Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 30)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 5)
    concurrency     = optional(number, 8)
  })
  default = {}
}

variable "api_service" {
  description = "Runtime of the api function. Requests are short database work, so an instance serves several at once."
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 60)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 10)
    concurrency     = optional(number, 8)
  })
  default = {}
}

variable "public_access" {
  description = <<-EOT
    How the public functions (status, api and web) are made reachable without a Google identity.
    "allUsers" (default): roles/run.invoker for allUsers. "invoker_check_disabled": no IAM grant;
    Cloud Run's invoker IAM check is switched off on each public function's service (needs gcloud,
    run.services.update and run.services.setIamPolicy where terraform apply runs). Use the second
    where the organisation enforces domain-restricted sharing (iam.allowedPolicyMemberDomains),
    which refuses any grant to allUsers. The app authenticates every api request itself.
  EOT
  type        = string
  default     = "allUsers"

  validation {
    condition     = contains(["allUsers", "invoker_check_disabled"], var.public_access)
    error_message = "public_access must be \"allUsers\" or \"invoker_check_disabled\"."
  }
}

variable "api_public_access" {
  description = "Overrides public_access for the api function; null (default) follows public_access."
  type        = string
  default     = null

  validation {
    condition     = var.api_public_access == null || contains(["allUsers", "invoker_check_disabled"], coalesce(var.api_public_access, "allUsers"))
    error_message = "api_public_access must be null, \"allUsers\" or \"invoker_check_disabled\"."
  }
}

variable "api_rate_limit_per_minute" {
  description = "Requests per minute per API key (API_RATE_LIMIT_PER_MINUTE); more are answered 429 with Retry-After."
  type        = number
  default     = 600
}

variable "audit_retention_days" {
  description = "Days the api's audit entries are kept (AUDIT_RETENTION_DAYS, a TTL index)."
  type        = number
  default     = 90
}

variable "meta_app_id" {
  description = "The Meta app's id (META_APP_ID), for accounts connect; not a secret. Empty: onboarding is off."
  type        = string
  default     = ""
}

variable "run_http_invokers" {
  description = <<-EOT
    IAM members given roles/run.invoker on the manual-run function, e.g.
    ["group:ops@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com"]. Callers then send a
    Google ID token in X-Serverless-Authorization and the admin JWT, admin key or admin API key
    in Authorization (`socialsched run` in remote mode: SOCIALSCHED_RUN_ID_TOKEN), so both
    IAM and the app check every call. ["allUsers"] drops the IAM layer and leaves the app-level
    token as the only guard (the original design). Empty: nobody outside the project's own IAM.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.run_http_invokers : m == "allUsers" || can(regex("^(user|group|serviceAccount|domain|principal|principalSet):", m))])
    error_message = "run_http_invokers entries must be allUsers or IAM members such as group:ops@example.com."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to read the status function (CORS_ALLOWED_ORIGINS). Empty: no CORS headers."
  type        = list(string)
  default     = []
}

variable "enable_events_topic" {
  description = "Create the outcome events topic and let the run functions publish to it (EVENTS_TOPIC)."
  type        = bool
  default     = false
}

variable "secret_versions" {
  description = "Secret version each function reads, per secret name (e.g. { MONGO_URI = \"3\" }). Unlisted secrets use \"latest\", read when an instance starts."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.secret_versions : contains(["MONGO_URI", "MONGO_URI_READONLY", "JWT_SECRET", "ADMIN_SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "META_APP_SECRET"], k) && can(regex("^([0-9]+|latest)$", v))])
    error_message = "secret_versions keys must be secret names this stack creates and values a version number or latest."
  }
}

variable "notification_channels" {
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) the alert policies notify."
  type        = list(string)
  default     = []
}

variable "dead_mans_switch_minutes" {
  description = "Alert when no tick-triggered run has finished successfully for this many minutes. Longer than one full run_tick timeout plus a tick period (a healthy run may take that long between two ok lines); at most 1410 (23.5 h, the longest window Cloud Monitoring accepts for a missing-data condition)."
  type        = number
  default     = 10

  validation {
    condition     = var.dead_mans_switch_minutes >= 2 && var.dead_mans_switch_minutes <= 1410 && floor(var.dead_mans_switch_minutes) == var.dead_mans_switch_minutes
    error_message = "dead_mans_switch_minutes must be a whole number between 2 and 1410 (23.5 hours, Cloud Monitoring's limit)."
  }
}

variable "status_public_access" {
  description = "Overrides public_access for the status function; null (default) follows public_access."
  type        = string
  default     = null

  validation {
    condition     = var.status_public_access == null || contains(["allUsers", "invoker_check_disabled"], coalesce(var.status_public_access, "allUsers"))
    error_message = "status_public_access must be null, \"allUsers\" or \"invoker_check_disabled\"."
  }
}

variable "meta_app_secret_enabled" {
  description = "Give the META_APP_SECRET secret to the functions that call Meta (appsecret_proof). The secret itself always exists; switch this on only after adding a version to it: a referenced secret must have one before the functions deploy."
  type        = bool
  default     = false
}

variable "grant_pubsub_token_creator" {
  description = "Grant the project's Pub/Sub service agent Token Creator on the trigger service account. Needed only in projects whose Pub/Sub agent was created on or before 2021-04-08 (ticks then fail to reach run-tick with authentication errors)."
  type        = bool
  default     = false
}

variable "builder_broad_roles" {
  description = "Give the builder service account roles/artifactregistry.writer and roles/storage.objectAdmin on the whole project (Google's documented set) instead of the narrowed grants. The switch back if a build fails for lack of access."
  type        = bool
  default     = false
}

variable "eventarc_agent_wait_seconds" {
  description = "How long the first apply waits after enabling the APIs before creating the event-triggered function, for Eventarc's service agent to get its role."
  type        = number
  default     = 120

  validation {
    condition     = var.eventarc_agent_wait_seconds >= 0 && var.eventarc_agent_wait_seconds <= 600
    error_message = "eventarc_agent_wait_seconds must be between 0 and 600."
  }
}

variable "dispatch" {
  description = "inline: the run function publishes due posts itself. tasks: the run creates one Cloud Task per post and the publish function publishes each at its second (docs/scaling.md)."
  type        = string
  default     = "inline"

  validation {
    condition     = contains(["inline", "tasks"], var.dispatch)
    error_message = "dispatch must be inline or tasks."
  }
}

variable "publish_service" {
  description = "Runtime of the publish function (dispatch = tasks): one post per request, several requests per instance."
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 300)
    min_instances   = optional(number, 0)
    # 64 x 8 = 512 posts in flight (docs/scaling.md), and 64 x (10 + 2) connections, which
    # with every other function fits an Atlas M10 (mongodb.tf).
    max_instances = optional(number, 64)
    concurrency   = optional(number, 8)
  })
  default = {}
}

variable "tasks_queue" {
  description = "The publish queue (dispatch = tasks): dispatch rate and retries. Cloud Tasks allows at most 500 dispatches per second per queue."
  type = object({
    max_dispatches_per_second = optional(number, 500)
    max_attempts              = optional(number, 10)
    min_backoff               = optional(string, "1s")
    max_backoff               = optional(string, "60s")
    max_doublings             = optional(number, 4)
    max_retry_duration        = optional(string, "3600s")
  })
  default = {}

  validation {
    condition     = var.tasks_queue.max_dispatches_per_second > 0 && var.tasks_queue.max_dispatches_per_second <= 500
    error_message = "tasks_queue.max_dispatches_per_second must be above 0 and at most 500 (the Cloud Tasks limit per queue)."
  }
}

variable "tasks_horizon_seconds" {
  description = "The run creates tasks for posts due within this many seconds (dispatch = tasks)."
  type        = number
  default     = 900
}

variable "mongo_max_connections" {
  description = "Connections the MongoDB cluster accepts (Atlas M10: 1500, M30: 3000). Every function's max_instances x pool size must fit in it."
  type        = number
  default     = 1500
}

variable "billing_budget" {
  description = <<-EOT
    Opt-in monthly budget on this project's spend, alerting at each threshold (fractions of the
    amount) and at a forecast of the whole amount, by e-mail to the billing account's admins and
    to notification_channels (at most 5). Needs roles/billing.costsManager on the billing account
    (README: "Costs"). currency_code must be the billing account's currency. null: no budget.
  EOT
  type = object({
    billing_account = string
    amount          = number
    currency_code   = optional(string, "USD")
    thresholds      = optional(list(number), [0.5, 0.9, 1.0])
  })
  default = null

  validation {
    condition     = var.billing_budget == null || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_budget.billing_account))
    error_message = "billing_budget.billing_account must be a billing account id such as 012345-6789AB-CDEF01 (gcloud billing accounts list)."
  }
  validation {
    condition     = var.billing_budget == null || try(var.billing_budget.amount > 0 && alltrue([for t in var.billing_budget.thresholds : t > 0 && t <= 10]), false)
    error_message = "billing_budget.amount must be above 0 and each threshold a fraction of it between 0 and 10 (1.0 is the whole amount)."
  }
}

variable "media_retention_days" {
  description = "Days after which media no unfinished post uses are deleted (MEDIA_RETENTION_DAYS, by `socialsched media sweep`)."
  type        = number
  default     = 30

  validation {
    condition     = var.media_retention_days >= 1
    error_message = "media_retention_days must be at least 1."
  }
}

variable "media_sweep_schedule" {
  description = "Unix-cron schedule of the daily media sweep (a message on the tick topic that the run function answers with `socialsched media sweep`'s work)."
  type        = string
  default     = "17 3 * * *"
}

variable "media_url_ttl_seconds" {
  description = "Lifetime of the V4 signed URLs Meta fetches media from (MEDIA_URL_TTL_SECONDS); each publish attempt signs anew."
  type        = number
  default     = 3600

  validation {
    condition     = var.media_url_ttl_seconds >= 60 && var.media_url_ttl_seconds <= 604800
    error_message = "media_url_ttl_seconds must be 60 to 604800 (Cloud Storage's 7-day limit)."
  }
}

variable "media_cors_origins" {
  description = "More browser origins allowed to PUT uploads straight to the media bucket, besides the web app's own (always allowed)."
  type        = list(string)
  default     = []
}

variable "web_service" {
  description = "Runtime of the web function (the app for people). Pages are short database work, so an instance serves several at once."
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 60)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 5)
    concurrency     = optional(number, 8)
  })
  default = {}
}

variable "web_public_access" {
  description = "Overrides public_access for the web function; null (default) follows public_access."
  type        = string
  default     = null

  validation {
    condition     = var.web_public_access == null || contains(["allUsers", "invoker_check_disabled"], coalesce(var.web_public_access, "allUsers"))
    error_message = "web_public_access must be null, \"allUsers\" or \"invoker_check_disabled\"."
  }
}

variable "web_base_url" {
  description = "The web app's https URL (WEB_BASE_URL) when it is not the service's deterministic run.app URL, e.g. a custom domain. Empty: https://<name_prefix>-web-<project number>.<region>.run.app."
  type        = string
  default     = ""

  validation {
    condition     = var.web_base_url == "" || startswith(var.web_base_url, "https://")
    error_message = "web_base_url must be empty or an https:// URL."
  }
}

variable "web_time_zone" {
  description = "The calendar's default time zone (WEB_TIME_ZONE), an IANA name."
  type        = string
  default     = "UTC"
}

variable "threads_app_id" {
  description = "The Threads app's id (THREADS_APP_ID, App Dashboard > Threads settings) for connecting Threads accounts in the web app; not a secret. Empty: that flow is off. Set it after adding a version to the THREADS_APP_SECRET secret."
  type        = string
  default     = ""
}

variable "oidc_client_id" {
  description = "The Google OAuth client's id (OIDC_CLIENT_ID) for members' sign-in; not a secret. Empty: only the key sign-in. Set it after adding a version to the OIDC_CLIENT_SECRET secret."
  type        = string
  default     = ""
}

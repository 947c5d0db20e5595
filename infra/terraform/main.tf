# Shared names, labels and the runtime settings derived from the variables. Resources live in
# files named for their concern (README: the table of files).

locals {
  labels = merge(var.labels, {
    app        = "social-scheduler"
    managed-by = "terraform"
  })

  # The Graph API timeouts the code uses (common/config.py defaults, set explicitly so the run
  # budget below is derived from the values actually in force).
  meta_connect_timeout_seconds = 5
  meta_read_timeout_seconds    = 30
  # Time kept free after the run budget ends: one platform call that started just before the
  # budget ran out (connect + read timeout), plus the final database update that records the run
  # and releases the lock.
  run_budget_reserve_seconds = local.meta_connect_timeout_seconds + local.meta_read_timeout_seconds + 25

  # MongoDB connections per instance (MONGO_MAX_POOL_SIZE, mongodb.tf). The run functions keep
  # the code's own size, PUBLISH_WORKERS (32 by default) + 8; a function that serves requests
  # needs one per request in flight plus spares for the background work of the instance.
  run_mongo_pool_size = 40
  spare_connections   = 2

  # The tick period, which the status function judges liveness by: "* * * * *" or "*/N * * * *".
  tick_interval_seconds = 60 * (var.tick_schedule == "* * * * *" ? 1 : tonumber(regex("^\\*/([0-9]+) ", var.tick_schedule)[0]))

  function_names = merge(
    {
      run_tick = "${var.name_prefix}-run-tick"
      run_http = "${var.name_prefix}-run-http"
      status   = "${var.name_prefix}-status"
      api      = "${var.name_prefix}-api"
      web      = "${var.name_prefix}-web"
    },
    local.tasks_enabled ? { publish = local.publish_function_name } : {},
  )

  # What every function reads (see common/config.py for what each setting means), and what
  # those that call the Graph API read besides.
  database_environment = {
    MONGO_DB             = var.mongo_db
    GOOGLE_CLOUD_PROJECT = var.project_id
  }
  meta_environment = merge(local.database_environment, {
    META_API_VERSION             = var.meta_api_version
    META_CONNECT_TIMEOUT_SECONDS = tostring(local.meta_connect_timeout_seconds)
    META_READ_TIMEOUT_SECONDS    = tostring(local.meta_read_timeout_seconds)
  })

  # Settings both run entry points need.
  run_environment = merge(
    local.meta_environment,
    {
      LOCK_TTL_SECONDS     = tostring(var.lock_ttl_seconds)
      TICK_MAX_AGE_SECONDS = tostring(var.tick_max_age_seconds)
    },
    var.enable_events_topic ? { EVENTS_TOPIC = google_pubsub_topic.events[0].name } : {},
    local.tasks_enabled ? local.tasks_environment : {},
    local.media_environment,
  )

  status_environment = merge(local.database_environment, {
    CORS_ALLOWED_ORIGINS  = join(",", var.cors_allowed_origins)
    TICK_INTERVAL_SECONDS = tostring(local.tick_interval_seconds)
  })

  # The api function (posts and accounts under /v1; Meta onboarding needs META_APP_ID).
  api_environment = merge(
    local.meta_environment,
    {
      API_RATE_LIMIT_PER_MINUTE = tostring(var.api_rate_limit_per_minute)
      AUDIT_RETENTION_DAYS      = tostring(var.audit_retention_days)
    },
    var.meta_app_id != "" ? { META_APP_ID = var.meta_app_id } : {},
    # A post created or edited close to its due time gets its task at once, not at the next
    # tick (tasks.tf: the api is one of the task creators); "close" is one tick interval.
    local.tasks_enabled ? merge(local.tasks_environment, {
      TICK_INTERVAL_SECONDS = tostring(local.tick_interval_seconds)
    }) : {},
    local.media_environment,
  )

  # The web app's own address: its sign-in cookies, CSRF origin and OpenID Connect redirect URI
  # name it. By default the service's deterministic run.app URL (known before the first deploy,
  # so the function can be given it); web_base_url sets another (a custom domain).
  web_base_url = var.web_base_url != "" ? var.web_base_url : "https://${local.function_names.web}-${data.google_project.this.number}.${var.region}.run.app"

  # The web app (issue 20): members sign in with Google when oidc_client_id is set.
  web_environment = merge(
    local.meta_environment,
    {
      AUDIT_RETENTION_DAYS = tostring(var.audit_retention_days)
      WEB_BASE_URL         = local.web_base_url
      WEB_TIME_ZONE        = var.web_time_zone
    },
    var.meta_app_id != "" ? { META_APP_ID = var.meta_app_id } : {},
    var.oidc_client_id != "" ? { OIDC_CLIENT_ID = var.oidc_client_id } : {},
    # Connecting Threads accounts in the browser needs the Threads app (its own id and secret).
    var.threads_app_id != "" ? { THREADS_APP_ID = var.threads_app_id } : {},
    local.media_environment,
  )

  # Which secret each function reads, as environment variable => secret name. Least
  # privilege: a function gets accessor rights on exactly these secrets (iam.tf) and nothing
  # else. The status function is public, so its MONGO_URI is the read-only database user's
  # connection string (MONGO_URI_READONLY); the read-write URI never reaches it.
  required_function_secrets = {
    run_tick = {
      MONGO_URI            = "MONGO_URI"
      TOKEN_ENCRYPTION_KEY = "TOKEN_ENCRYPTION_KEY"
    }
    run_http = {
      MONGO_URI            = "MONGO_URI"
      TOKEN_ENCRYPTION_KEY = "TOKEN_ENCRYPTION_KEY"
      JWT_SECRET           = "JWT_SECRET"
      ADMIN_SECRET_KEY     = "ADMIN_SECRET_KEY"
    }
    status = {
      MONGO_URI = "MONGO_URI_READONLY"
    }
    # The api stores posts and encrypts Page tokens (accounts connect); it takes admin JWTs
    # and the admin key besides API keys.
    api = {
      MONGO_URI            = "MONGO_URI"
      TOKEN_ENCRYPTION_KEY = "TOKEN_ENCRYPTION_KEY"
      JWT_SECRET           = "JWT_SECRET"
      ADMIN_SECRET_KEY     = "ADMIN_SECRET_KEY"
    }
    publish = {
      MONGO_URI            = "MONGO_URI"
      TOKEN_ENCRYPTION_KEY = "TOKEN_ENCRYPTION_KEY"
    }
    # The web app stores posts and connects accounts (tokens encrypted); ADMIN_SECRET_KEY signs
    # in the first admin. OIDC_CLIENT_SECRET is added below when Google Sign-In is on.
    web = {
      MONGO_URI            = "MONGO_URI"
      TOKEN_ENCRYPTION_KEY = "TOKEN_ENCRYPTION_KEY"
      ADMIN_SECRET_KEY     = "ADMIN_SECRET_KEY"
    }
  }

  # META_APP_SECRET is optional in the code (appsecret_proof), but a secret referenced by a
  # function must have an enabled version before the function deploys (Cloud Run checks every
  # referenced secret). So it is created and referenced only when the operator says it is set.
  meta_app_secret_readers = ["run_tick", "run_http", "api", "publish", "web"]

  function_secrets = {
    for fn, secrets in local.required_function_secrets : fn => merge(
      secrets,
      var.meta_app_secret_enabled && contains(local.meta_app_secret_readers, fn) ? { META_APP_SECRET = "META_APP_SECRET" } : {},
      # Like META_APP_SECRET: the secret always exists, referenced once Google Sign-In is on.
      var.oidc_client_id != "" && fn == "web" ? { OIDC_CLIENT_SECRET = "OIDC_CLIENT_SECRET" } : {},
      var.threads_app_id != "" && fn == "web" ? { THREADS_APP_SECRET = "THREADS_APP_SECRET" } : {},
    ) if contains(keys(local.function_names), fn)
  }

  secret_access = {
    for pair in flatten([
      for fn, secrets in local.function_secrets : [for secret in distinct(values(secrets)) : { fn = fn, secret = secret }]
    ]) : "${pair.fn}/${pair.secret}" => pair
  }
}

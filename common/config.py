"""Settings read from the environment once, validated, with secrets kept out of repr()."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

ReconcilePolicy = Literal["at_most_once", "at_least_once"]
Dispatch = Literal["inline", "tasks"]
MIN_ADMIN_KEY_LENGTH = 32
MAX_DISPATCH_DEADLINE_SECONDS = 1800  # Cloud Tasks, HTTP targets: 15 s to 30 min
FERNET_KEY_BYTES = 32
MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Settings:
    mongo_uri: str = field(repr=False)
    mongo_db: str = "social_scheduler"
    mongo_timeout_ms: int = 5000
    # Connections per instance; None: PUBLISH_WORKERS + 8. Terraform sets it with the maximum
    # instance count, so instances x pool stays within the cluster's connection limit.
    mongo_max_pool_size: int | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    admin_secret_key: str | None = field(default=None, repr=False)
    token_encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v25.0"
    meta_app_secret: str | None = field(default=None, repr=False)
    meta_connect_timeout_seconds: float = 5.0
    meta_read_timeout_seconds: float = 30.0
    meta_app_id: str | None = None
    threads_graph_url: str = "https://graph.threads.net"
    threads_api_version: str = "v1.0"
    # Connecting accounts in the browser (the web app): Meta's Login dialog (and, for Facebook
    # Login for Business, its configuration id), Threads' authorization window and app.
    meta_dialog_url: str = "https://www.facebook.com"
    meta_login_config_id: str | None = None
    threads_authorize_url: str = "https://threads.com"
    threads_app_id: str | None = None
    threads_app_secret: str | None = field(default=None, repr=False)
    # Timeouts for the networks other than Meta (Bluesky), each on the account's own server.
    network_connect_timeout_seconds: float = 5.0
    network_read_timeout_seconds: float = 30.0
    ig_poll_interval_seconds: float = 3.0
    ig_max_wait_seconds: float = 30.0
    ig_quota_cache_seconds: float = 60.0
    events_topic: str | None = None
    google_cloud_project: str | None = None
    lock_ttl_seconds: int = 300
    run_budget_seconds: int = 240
    max_attempts: int = 5
    max_lateness_seconds: int = 24 * 3600
    tick_max_age_seconds: int = 300
    tick_interval_seconds: int = 60  # the Cloud Scheduler period; status judges liveness by it
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    reauth_hold_seconds: int = 900
    catchup_spacing_seconds: int = 60
    publish_workers: int = 32
    claim_batch_size: int = 100
    reconcile_policy: ReconcilePolicy = "at_most_once"
    cors_allowed_origins: tuple[str, ...] = ()
    status_cache_seconds: int = 10  # one report per instance this often; also its max-age
    dispatch: Dispatch = "inline"
    # DISPATCH=tasks: the queue (projects/P/locations/L/queues/Q), the publish function's URL,
    # the service account whose OIDC token Cloud Tasks sends, and the audience it names.
    tasks_queue: str | None = None
    tasks_target_url: str | None = None
    tasks_service_account: str | None = None
    tasks_audience: str | None = None
    tasks_horizon_seconds: int = 900  # the tick enqueues posts due within this
    tasks_sweep_after_seconds: int = 120  # overdue longer than this, the tick publishes inline
    tasks_api_endpoint: str | None = None  # None: Google's; the local stack sets its stand-in
    # How long Cloud Tasks waits for publish's answer before it counts the attempt failed (its
    # own default for HTTP tasks is 10 minutes); Terraform sets publish's timeout.
    tasks_dispatch_deadline_seconds: int = 600
    # The deployment declares Cloud Run's invoker IAM check on for the publish service (only
    # then does publish trust the claims of the token Cloud Run forwards; task_auth.py).
    tasks_invoker_check: bool = False
    # Finished posts are removed this many days after they finished; 0 turns it off; None
    # (unset) leaves whatever the database has (see db.ensure_indexes).
    post_retention_days: int | None = None
    api_rate_limit_per_minute: int = 600
    audit_retention_days: int = 90
    # Media (docs/media.md): the bucket; where signed URLs point and who signs them (the
    # function's own service account through IAM signBlob; locally a key file standing in).
    media_bucket: str | None = None
    storage_emulator_host: str | None = None
    media_url_endpoint: str = "https://storage.googleapis.com"
    media_signing_account: str | None = None
    media_signing_key_file: str | None = field(default=None, repr=False)
    # Meta fetches while it processes a container; each attempt signs anew, so one hour covers
    # an attempt's processing and polling with room to spare.
    media_url_ttl_seconds: int = 3600
    media_retention_days: int = 30
    media_upload_expiry_hours: int = 24  # an upload never completed is dropped after this
    # Addresses a person names (media URLs, a Mastodon instance, a Bluesky PDS) may be loopback
    # or private (the local stack's sandboxes listen on loopback); off in production, where the
    # server refuses to call them (common.platforms.public_hosts).
    private_addresses_allowed: bool = False
    # The web app: sessions, sign-in throttle, the calendar's zone and Google Sign-In (OIDC).
    web_session_hours: int = 12
    web_signin_per_minute: int = 10
    web_time_zone: str = "UTC"
    web_base_url: str | None = None  # https://<the web function's URL>, for the redirect URI
    oidc_issuer: str = "https://accounts.google.com"
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)

    @property
    def max_lateness(self) -> timedelta:
        """How late a post may still go out (MAX_LATENESS_SECONDS); later, it fails as expired."""
        return timedelta(seconds=self.max_lateness_seconds)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_client_id and self.oidc_client_secret and self.web_base_url)

    @property
    def admin_key_enabled(self) -> bool:
        """Key auth stays off unless a key of at least 32 characters is configured."""
        return (
            self.admin_secret_key is not None and len(self.admin_secret_key) >= MIN_ADMIN_KEY_LENGTH
        )

    @property
    def task_audience(self) -> str | None:
        return self.tasks_audience or self.tasks_target_url

    @property
    def lock_renew_interval_seconds(self) -> float:
        # Three renewals fit in one TTL, so one slow database answer never loses the lock.
        return self.lock_ttl_seconds / 3


_INT_SETTINGS: dict[str, tuple[str, int]] = {
    "MONGO_TIMEOUT_MS": ("mongo_timeout_ms", 100),
    "MONGO_MAX_POOL_SIZE": ("mongo_max_pool_size", 1),
    "LOCK_TTL_SECONDS": ("lock_ttl_seconds", 1),
    "RUN_BUDGET_SECONDS": ("run_budget_seconds", 1),
    "MAX_ATTEMPTS": ("max_attempts", 1),
    "MAX_LATENESS_SECONDS": ("max_lateness_seconds", 60),
    "TICK_MAX_AGE_SECONDS": ("tick_max_age_seconds", 1),
    "TICK_INTERVAL_SECONDS": ("tick_interval_seconds", 60),
    "RETRY_BASE_SECONDS": ("retry_base_seconds", 1),
    "RETRY_MAX_SECONDS": ("retry_max_seconds", 1),
    "REAUTH_HOLD_SECONDS": ("reauth_hold_seconds", 1),
    "CATCHUP_SPACING_SECONDS": ("catchup_spacing_seconds", 0),
    "PUBLISH_WORKERS": ("publish_workers", 1),
    "CLAIM_BATCH_SIZE": ("claim_batch_size", 1),
    "STATUS_CACHE_SECONDS": ("status_cache_seconds", 0),
    "POST_RETENTION_DAYS": ("post_retention_days", 0),
    "TASKS_HORIZON_SECONDS": ("tasks_horizon_seconds", 60),
    "TASKS_SWEEP_AFTER_SECONDS": ("tasks_sweep_after_seconds", 30),
    "TASKS_DISPATCH_DEADLINE_SECONDS": ("tasks_dispatch_deadline_seconds", 15),
    "API_RATE_LIMIT_PER_MINUTE": ("api_rate_limit_per_minute", 1),
    "AUDIT_RETENTION_DAYS": ("audit_retention_days", 1),
    "MEDIA_URL_TTL_SECONDS": ("media_url_ttl_seconds", 60),
    "MEDIA_RETENTION_DAYS": ("media_retention_days", 1),
    "MEDIA_UPLOAD_EXPIRY_HOURS": ("media_upload_expiry_hours", 1),
    "WEB_SESSION_HOURS": ("web_session_hours", 1),
    "WEB_SIGNIN_PER_MINUTE": ("web_signin_per_minute", 1),
}
_FLOAT_SETTINGS: dict[str, str] = {
    "META_CONNECT_TIMEOUT_SECONDS": "meta_connect_timeout_seconds",
    "META_READ_TIMEOUT_SECONDS": "meta_read_timeout_seconds",
    "NETWORK_CONNECT_TIMEOUT_SECONDS": "network_connect_timeout_seconds",
    "NETWORK_READ_TIMEOUT_SECONDS": "network_read_timeout_seconds",
    "IG_POLL_INTERVAL_SECONDS": "ig_poll_interval_seconds",
    "IG_MAX_WAIT_SECONDS": "ig_max_wait_seconds",
    "IG_QUOTA_CACHE_SECONDS": "ig_quota_cache_seconds",
}
_STR_SETTINGS: dict[str, str] = {
    "MONGO_DB": "mongo_db",
    "JWT_SECRET": "jwt_secret",
    "JWT_AUDIENCE": "jwt_audience",
    "JWT_ISSUER": "jwt_issuer",
    "ADMIN_SECRET_KEY": "admin_secret_key",
    "META_GRAPH_URL": "meta_graph_url",
    "META_API_VERSION": "meta_api_version",
    "META_APP_SECRET": "meta_app_secret",
    "META_APP_ID": "meta_app_id",
    "THREADS_GRAPH_URL": "threads_graph_url",
    "META_DIALOG_URL": "meta_dialog_url",
    "META_LOGIN_CONFIG_ID": "meta_login_config_id",
    "THREADS_AUTHORIZE_URL": "threads_authorize_url",
    "THREADS_APP_ID": "threads_app_id",
    "THREADS_APP_SECRET": "threads_app_secret",
    "THREADS_API_VERSION": "threads_api_version",
    "EVENTS_TOPIC": "events_topic",
    "GOOGLE_CLOUD_PROJECT": "google_cloud_project",
    "TASKS_QUEUE": "tasks_queue",
    "TASKS_TARGET_URL": "tasks_target_url",
    "TASKS_SERVICE_ACCOUNT": "tasks_service_account",
    "TASKS_AUDIENCE": "tasks_audience",
    "TASKS_API_ENDPOINT": "tasks_api_endpoint",
    "MEDIA_BUCKET": "media_bucket",
    "STORAGE_EMULATOR_HOST": "storage_emulator_host",
    "MEDIA_URL_ENDPOINT": "media_url_endpoint",
    "MEDIA_SIGNING_ACCOUNT": "media_signing_account",
    "MEDIA_SIGNING_KEY_FILE": "media_signing_key_file",
    "WEB_TIME_ZONE": "web_time_zone",
    "WEB_BASE_URL": "web_base_url",
    "OIDC_ISSUER": "oidc_issuer",
    "OIDC_CLIENT_ID": "oidc_client_id",
    "OIDC_CLIENT_SECRET": "oidc_client_secret",
}
_TASKS_REQUIRED = ("TASKS_QUEUE", "TASKS_TARGET_URL", "TASKS_SERVICE_ACCOUNT")


def is_fernet_key(key: str) -> bool:
    """Checked with the standard library, so a bad key fails at start in every function (the
    status function does not ship the cryptography package, and the run function loads it only
    when a token is opened: common.tokens)."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == FERNET_KEY_BYTES
    except (ValueError, UnicodeEncodeError):
        return False


def _split_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _read_numbers(env: Mapping[str, str], values: dict[str, object], problems: list[str]) -> None:
    for name, (attr, minimum) in _INT_SETTINGS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            number = int(raw)
        except ValueError:
            problems.append(f"{name} must be an integer, got {raw!r}")
            continue
        if number < minimum:
            problems.append(f"{name} must be at least {minimum}, got {number}")
        values[attr] = number
    if int(str(values.get("media_url_ttl_seconds", 0))) > MAX_SIGNED_URL_SECONDS:
        problems.append("MEDIA_URL_TTL_SECONDS is at most 604800 (7 days, Cloud Storage's limit)")
    if int(str(values.get("tasks_dispatch_deadline_seconds", 0))) > MAX_DISPATCH_DEADLINE_SECONDS:
        problems.append("TASKS_DISPATCH_DEADLINE_SECONDS is at most 1800 (Cloud Tasks' limit)")
    for name, attr in _FLOAT_SETTINGS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[attr] = float(raw)
        except ValueError:
            problems.append(f"{name} must be a number, got {raw!r}")


def _read_strings(env: Mapping[str, str], values: dict[str, object], problems: list[str]) -> None:
    for name, attr in _STR_SETTINGS.items():
        if env.get(name, "").strip():
            values[attr] = env[name].strip()
    policy = env.get("RECONCILE_POLICY", "").strip()
    if policy:
        if policy not in ("at_most_once", "at_least_once"):
            problems.append("RECONCILE_POLICY must be at_most_once or at_least_once")
        values["reconcile_policy"] = policy
    if env.get("TOKEN_ENCRYPTION_KEY", "").strip():
        keys = _split_list(env["TOKEN_ENCRYPTION_KEY"])
        problems.extend(
            f"TOKEN_ENCRYPTION_KEY entry {n} is not a Fernet key (32 url-safe base64 bytes)"
            for n, key in enumerate(keys, start=1)
            if not is_fernet_key(key)
        )
        values["token_encryption_keys"] = keys
    if env.get("CORS_ALLOWED_ORIGINS", "").strip():
        values["cors_allowed_origins"] = _split_list(env["CORS_ALLOWED_ORIGINS"])
    _read_switches(env, values, problems)
    _read_dispatch(env, values, problems)


def _read_switches(env: Mapping[str, str], values: dict[str, object], problems: list[str]) -> None:
    """Settings that are on or off (unset: off)."""
    for name, attr in _SWITCHES.items():
        raw = env.get(name, "").strip()
        if raw not in ("", "on", "off"):
            problems.append(f"{name} must be on or off")
        values[attr] = raw == "on"


_SWITCHES = {
    "TASKS_INVOKER_CHECK": "tasks_invoker_check",
    "PRIVATE_ADDRESSES_ALLOWED": "private_addresses_allowed",
}


def _read_dispatch(env: Mapping[str, str], values: dict[str, object], problems: list[str]) -> None:
    dispatch = env.get("DISPATCH", "").strip()
    if not dispatch:
        return
    if dispatch not in ("inline", "tasks"):
        problems.append("DISPATCH must be inline or tasks")
    values["dispatch"] = dispatch
    if dispatch == "tasks":
        problems.extend(
            f"{name} is required with DISPATCH=tasks"
            for name in _TASKS_REQUIRED
            if not env.get(name, "").strip()
        )


@dataclass(frozen=True)
class ApiRemote:
    """The CLI's remote mode: the api function's URL and an API key (no database settings)."""

    url: str
    key: str = field(repr=False)
    status_url: str | None = None  # SOCIALSCHED_STATUS_URL: where `status` reads the report
    run_url: str | None = None  # SOCIALSCHED_RUN_URL: the run_http function `run` calls
    # SOCIALSCHED_RUN_ID_TOKEN: a Google ID token for Cloud Run's invoker check on run_http
    run_id_token: str | None = field(default=None, repr=False)


def load_remote(environ: Mapping[str, str] | None = None) -> ApiRemote | None:
    """SOCIALSCHED_API_URL and SOCIALSCHED_API_KEY, when both are set (and, optionally, the
    status function's SOCIALSCHED_STATUS_URL, the run function's SOCIALSCHED_RUN_URL and an ID
    token for it, SOCIALSCHED_RUN_ID_TOKEN)."""
    env = os.environ if environ is None else environ
    url = env.get("SOCIALSCHED_API_URL", "").strip()
    key = env.get("SOCIALSCHED_API_KEY", "").strip()
    if not url and not key:
        return None
    if not url or not key:
        raise ConfigError("remote mode needs both SOCIALSCHED_API_URL and SOCIALSCHED_API_KEY")
    status_url = env.get("SOCIALSCHED_STATUS_URL", "").strip() or None
    run_url = env.get("SOCIALSCHED_RUN_URL", "").strip() or None
    urls = (
        ("SOCIALSCHED_API_URL", url),
        ("SOCIALSCHED_STATUS_URL", status_url),
        ("SOCIALSCHED_RUN_URL", run_url),
    )
    for name, value in urls:
        if value is not None and not _safe_remote(value):
            raise ConfigError(f"{name} must be https (http only on this machine)")
    id_token = env.get("SOCIALSCHED_RUN_ID_TOKEN", "").strip() or None
    return ApiRemote(url, key, status_url, run_url, id_token)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _safe_remote(url: str) -> bool:
    """https, or http to this machine: the key goes in the clear otherwise. The host is parsed,
    not matched as a prefix (`http://localhost.example.com` is not this machine)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        return False
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; report all problems at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, object] = {}
    mongo_uri = env.get("MONGO_URI", "").strip()
    if not mongo_uri:
        problems.append("MONGO_URI is required (e.g. mongodb://127.0.0.1:27017/)")
    _read_strings(env, values, problems)
    _read_numbers(env, values, problems)
    if problems:
        raise ConfigError("; ".join(problems))
    return Settings(mongo_uri=mongo_uri, **values)  # type: ignore[arg-type]

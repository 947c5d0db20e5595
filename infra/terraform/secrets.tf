# The secrets exist here; their values never do. Terraform creates each secret and who may read
# it (iam.tf); an operator adds versions out of band (README: "Adding secret values"), so no
# secret value passes through a variable, a plan or the state. Every secret listed here is read
# by a function as an environment variable, so each needs an enabled version before the
# functions deploy: that is why the deploy is two applies (README) and why
# scripts/preflight.sh checks each one.
#
# META_APP_SECRET is optional in the code (appsecret_proof) and referenced only with
# meta_app_secret_enabled, but the secret exists either way: switching on is then "add a
# version, then apply" (the functions reference a secret that already has one), and switching
# off only stops the references, without deleting a protected secret. A secret without versions
# costs nothing (Secret Manager bills active versions and accesses).
locals {
  secret_names = toset([
    "MONGO_URI",
    "MONGO_URI_READONLY",
    "JWT_SECRET",
    "ADMIN_SECRET_KEY",
    "TOKEN_ENCRYPTION_KEY",
    "META_APP_SECRET",
    "OIDC_CLIENT_SECRET",
    "THREADS_APP_SECRET",
  ])
}

resource "google_secret_manager_secret" "this" {
  for_each = local.secret_names

  secret_id = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}"
  labels    = local.labels

  replication {
    auto {}
  }

  # Destroying a secret destroys every version of it: make that an explicit decision.
  deletion_protection = true

  depends_on = [google_project_service.this]
}

#!/usr/bin/env bash
# Before `terraform apply`: checks with gcloud what Terraform cannot do or check itself, and
# says in plain words what to fix. Nothing is changed; every check only reads.
#
#   scripts/preflight.sh [--skip-secrets] PROJECT_ID [NAME_PREFIX]
#
# Run it with --skip-secrets before the first apply (the secrets do not exist yet), and without
# it after adding the secret values, right before the full apply (infra/terraform/README.md).
# Settings that change what is checked mirror terraform.tfvars:
#   PUBLIC_ACCESS=allUsers|invoker_check_disabled          (public_access, default allUsers)
#   STATUS_PUBLIC_ACCESS=..., API_PUBLIC_ACCESS=..., WEB_PUBLIC_ACCESS=...  (per-function overrides)
#   META_APP_SECRET_ENABLED=true|false                       (meta_app_secret_enabled, default false)
#   OIDC_CLIENT_ID=<the Google OAuth client id>              (oidc_client_id, default empty: off)
#   PREFLIGHT_SKIP_ROLES=1   your roles come through a group, which this script cannot see
#
# Exit status: 0 when nothing needs fixing, 1 when something does, 2 on a usage error.
set -uo pipefail

skip_secrets=0
if [[ "${1:-}" == "--skip-secrets" ]]; then
    skip_secrets=1
    shift
fi
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 [--skip-secrets] PROJECT_ID [NAME_PREFIX]" >&2
    exit 2
fi
project="$1"
prefix="${2:-socialsched}"
public_access="${PUBLIC_ACCESS:-allUsers}"
# How each public function is made public: its override, else the one switch (iam.tf).
declare -A access=(
    [status]="${STATUS_PUBLIC_ACCESS:-$public_access}"
    [api]="${API_PUBLIC_ACCESS:-$public_access}"
    [web]="${WEB_PUBLIC_ACCESS:-$public_access}"
)
meta_app_secret="${META_APP_SECRET_ENABLED:-false}"
for fn in status api web; do
    if [[ "${access[$fn]}" != "allUsers" && "${access[$fn]}" != "invoker_check_disabled" ]]; then
        echo "PUBLIC_ACCESS, STATUS_PUBLIC_ACCESS, API_PUBLIC_ACCESS and WEB_PUBLIC_ACCESS must be allUsers or invoker_check_disabled, as in terraform.tfvars" >&2
        exit 2
    fi
done

# The APIs infra/terraform/services.tf enables (tests/infra/test_preflight_script.py keeps the two
# lists equal). Terraform enables them itself, through the Service Usage API.
apis=(
    artifactregistry.googleapis.com
    billingbudgets.googleapis.com
    cloudbuild.googleapis.com
    cloudfunctions.googleapis.com
    cloudresourcemanager.googleapis.com
    cloudscheduler.googleapis.com
    cloudtasks.googleapis.com
    eventarc.googleapis.com
    iam.googleapis.com
    iamcredentials.googleapis.com
    logging.googleapis.com
    monitoring.googleapis.com
    pubsub.googleapis.com
    run.googleapis.com
    secretmanager.googleapis.com
    storage.googleapis.com
)

# Enough to apply the whole configuration when the caller is not an Owner.
roles=(
    roles/serviceusage.serviceUsageAdmin
    roles/resourcemanager.projectIamAdmin
    roles/iam.serviceAccountAdmin
    roles/iam.serviceAccountUser
    roles/cloudfunctions.admin
    roles/run.admin
    roles/storage.admin
    roles/artifactregistry.admin
    roles/pubsub.admin
    roles/cloudscheduler.admin
    roles/cloudtasks.admin
    roles/eventarc.admin
    roles/secretmanager.admin
    roles/logging.configWriter
    roles/monitoring.alertPolicyEditor
    roles/monitoring.uptimeCheckConfigEditor
)

# Every secret a function reads as an environment variable (infra/terraform/secrets.tf).
secrets=(MONGO_URI MONGO_URI_READONLY JWT_SECRET ADMIN_SECRET_KEY TOKEN_ENCRYPTION_KEY)
if [[ "$meta_app_secret" == "true" ]]; then
    secrets+=(META_APP_SECRET)
fi
if [[ -n "${OIDC_CLIENT_ID:-}" ]]; then
    secrets+=(OIDC_CLIENT_SECRET)
fi
if [[ -n "${THREADS_APP_ID:-}" ]]; then
    secrets+=(THREADS_APP_SECRET)
fi

problems=0
ok() { echo "ok   $1"; }
note() { echo "note $1"; }
fix() {
    echo "FIX  $1" >&2
    problems=$((problems + 1))
}

secret_id() {
    local name="${1,,}"
    echo "$prefix-${name//_/-}"
}

# How to give each secret its value (the README's "Adding secret values" has all of them).
secret_hint() {
    local id
    id="$(secret_id "$1")"
    case "$1" in
        MONGO_URI) echo "printf '%s' \"\$MONGO_URI\" | gcloud secrets versions add $id --data-file=- --project=$project" ;;
        MONGO_URI_READONLY) echo "create a read-only database user (README: \"Read-only database user\"), then printf '%s' \"\$MONGO_URI_READONLY\" | gcloud secrets versions add $id --data-file=- --project=$project" ;;
        TOKEN_ENCRYPTION_KEY) echo "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode(), end=\"\")' | gcloud secrets versions add $id --data-file=- --project=$project" ;;
        META_APP_SECRET) echo "printf '%s' \"\$META_APP_SECRET\" | gcloud secrets versions add $id --data-file=- --project=$project (or set meta_app_secret_enabled = false)" ;;
        OIDC_CLIENT_SECRET) echo "printf '%s' \"\$OIDC_CLIENT_SECRET\" | gcloud secrets versions add $id --data-file=- --project=$project (the Google OAuth client's secret; or leave oidc_client_id empty)" ;;
        THREADS_APP_SECRET) echo "printf '%s' \"\$THREADS_APP_SECRET\" | gcloud secrets versions add $id --data-file=- --project=$project (the Threads app's secret; or leave threads_app_id empty)" ;;
        *) echo "head -c 48 /dev/urandom | base64 | tr -d '\\n' | gcloud secrets versions add $id --data-file=- --project=$project" ;;
    esac
}

check_gcloud() {
    if ! command -v gcloud >/dev/null 2>&1; then
        fix "gcloud is not installed: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), then run this again"
        exit 1
    fi
    account="$(gcloud auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null | head -n 1)"
    if [[ -z "$account" ]]; then
        fix "gcloud is not logged in: run \`gcloud auth login\`"
        exit 1
    fi
    ok "gcloud is logged in as $account"
    if gcloud auth application-default print-access-token >/dev/null 2>&1; then
        ok "Application Default Credentials are set (Terraform uses them)"
    else
        fix "Terraform authenticates with Application Default Credentials, which are not set: run \`gcloud auth application-default login\`"
    fi
}

check_project() {
    if ! gcloud projects describe "$project" --format='value(projectNumber)' >/dev/null 2>&1; then
        fix "project $project does not exist or $account cannot see it: check the id (gcloud projects list) or ask for access"
        exit 1
    fi
    ok "project $project exists"
}

check_billing() {
    local enabled
    if ! enabled="$(gcloud billing projects describe "$project" --format='value(billingEnabled)' 2>/dev/null)"; then
        note "could not read the billing status of $project (this needs billing.resourceAssociations.list); check Billing in the console: Cloud Build and Cloud Functions refuse a project without billing"
        return
    fi
    if [[ "${enabled,,}" == "true" ]]; then
        ok "billing is enabled"
    else
        fix "billing is not enabled on $project: Cloud Build and Cloud Functions need it. Link a billing account: gcloud billing projects link $project --billing-account=ACCOUNT_ID (gcloud billing accounts list)"
    fi
}

check_apis() {
    local enabled
    if ! enabled="$(gcloud services list --enabled --project="$project" --format='value(config.name)' 2>/dev/null)" ||
        ! grep -qx 'serviceusage.googleapis.com' <<<"$enabled"; then
        fix "the Service Usage API is off, and Terraform enables every other API through it: enable serviceusage.googleapis.com in the console (APIs & Services > Library), then run this again"
        return
    fi
    ok "the Service Usage API is on"
    local missing=()
    for api in "${apis[@]}"; do
        grep -qx "$api" <<<"$enabled" || missing+=("$api")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        ok "every API the stack uses is enabled"
    else
        note "terraform apply will enable: ${missing[*]} (a fresh project then waits about two minutes for Eventarc's service agent)"
    fi
}

check_org_policy() {
    local policy restricted fn granted=()
    for fn in status api web; do
        [[ "${access[$fn]}" == "allUsers" ]] && granted+=("$fn")
    done
    if ! policy="$(gcloud resource-manager org-policies describe iam.allowedPolicyMemberDomains --project="$project" --effective --format=json 2>/dev/null)"; then
        note "could not read the organisation policy iam.allowedPolicyMemberDomains (needs orgpolicy.policy.get); if apply fails granting allUsers, set public_access = \"invoker_check_disabled\""
        return
    fi
    # Restricted when the effective list policy names domains or denies everything.
    restricted="$(python3 -c '
import json, sys
policy = json.loads(sys.stdin.read() or "{}").get("listPolicy") or {}
named = policy.get("allowedValues") or policy.get("deniedValues")
print("yes" if named or policy.get("allValues") == "DENY" else "no")
' <<<"$policy")" || restricted="unknown"
    if [[ "$restricted" == "no" ]]; then
        ok "the organisation allows allUsers grants"
    elif [[ "$restricted" == "yes" && ${#granted[@]} -gt 0 ]]; then
        fix "the organisation allows IAM members only from its own domains (iam.allowedPolicyMemberDomains), so the allUsers grant that makes ${granted[*]} public will be refused. Set public_access = \"invoker_check_disabled\" in terraform.tfvars (and no status_public_access, api_public_access or web_public_access of allUsers), and run this again with PUBLIC_ACCESS=invoker_check_disabled"
    elif [[ "$restricted" == "yes" ]]; then
        ok "the organisation refuses allUsers; status, api and web are made public with the invoker check disabled (gcloud must be on PATH where terraform apply runs, with run.services.update and run.services.setIamPolicy)"
    else
        note "could not understand the organisation policy iam.allowedPolicyMemberDomains; if apply fails granting allUsers, set public_access = \"invoker_check_disabled\""
    fi
}

check_roles() {
    if [[ "${PREFLIGHT_SKIP_ROLES:-}" == "1" ]]; then
        note "roles not checked (PREFLIGHT_SKIP_ROLES=1)"
        return
    fi
    local member held missing=()
    if [[ "$account" == *.gserviceaccount.com ]]; then
        member="serviceAccount:$account"
    else
        member="user:$account"
    fi
    if ! held="$(gcloud projects get-iam-policy "$project" --flatten='bindings[].members' \
        --filter="bindings.members=$member" --format='value(bindings.role)' 2>/dev/null)"; then
        fix "$account cannot read the IAM policy of $project, and terraform apply sets IAM: ask for roles/owner, or the roles listed in infra/terraform/README.md (Prerequisites)"
        return
    fi
    if grep -qx 'roles/owner' <<<"$held"; then
        ok "$account is an Owner of $project"
        return
    fi
    for role in "${roles[@]}"; do
        grep -qx "$role" <<<"$held" || missing+=("$role")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        ok "$account holds every role the apply needs"
    else
        fix "$account lacks roles the apply needs: ${missing[*]}. Grant each with: gcloud projects add-iam-policy-binding $project --member=$member --role=ROLE (or roles/owner). Roles held through a group do not show here: then run with PREFLIGHT_SKIP_ROLES=1"
    fi
}

check_secrets() {
    if [[ $skip_secrets -eq 1 ]]; then
        note "secrets not checked (--skip-secrets): run this again without it before the full apply"
        return
    fi
    local name id versions
    for name in "${secrets[@]}"; do
        id="$(secret_id "$name")"
        if ! versions="$(gcloud secrets versions list "$id" --project="$project" --filter='state=ENABLED' --format='value(name)' --limit=1 2>/dev/null)"; then
            fix "secret $id ($name) does not exist or cannot be read: create the secrets first with \`terraform apply -target=google_secret_manager_secret.this\` (step 1 of the README)"
        elif [[ -z "$versions" ]]; then
            fix "secret $id ($name) has no enabled version, and the functions cannot deploy without one: $(secret_hint "$name")"
        else
            ok "secret $id has an enabled version"
        fi
    done
}

check_gcloud
check_project
check_billing
check_apis
check_org_policy
check_roles
check_secrets

if [[ $problems -gt 0 ]]; then
    echo "$problems thing(s) to fix before terraform apply" >&2
    exit 1
fi
echo "ready for terraform apply"

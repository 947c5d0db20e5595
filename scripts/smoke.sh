#!/usr/bin/env bash
# Smoke test after a deploy: the public status function answers; a manual run is refused
# without the admin key (401) and accepted with it (200); the api is refused without a key
# (401) and answers with it (200). With dispatch = "tasks" (PUBLISH_URL set), also: publish is
# unreachable from outside (its ingress is internal), and a real Cloud Task carrying the tasks
# service account's OIDC token for publish's URL is accepted, end to end.
#
#   ADMIN_KEY=... scripts/smoke.sh https://REGION-PROJECT.cloudfunctions.net [NAME_PREFIX]
#
# BASE_URL/NAME_PREFIX-status, -run-http and -api are the functions' URLs; STATUS_URL, RUN_URL
# and API_URL override them (e.g. with `terraform output -raw status_url`). ADMIN_KEY (or an
# admin JWT) is read from the environment, never from the command line, so it stays out of shell
# history and process lists. When run_http_invokers restricts the function with IAM, also set
# ID_TOKEN (`gcloud auth print-identity-token`); it travels in X-Serverless-Authorization,
# leaving Authorization to the app.
#
# Tasks mode: PUBLISH_URL (`terraform output -raw publish_url`), TASKS_QUEUE (`terraform output
# -raw tasks_queue`) and TASKS_SERVICE_ACCOUNT (`terraform output -json service_accounts | jq -r
# .tasks`). The task is created with gcloud as the caller (roles/cloudtasks.enqueuer on the queue
# and roles/iam.serviceAccountUser on the tasks account, both part of Owner); it names a post
# that does not exist, which publish answers 200 without touching anything.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: ADMIN_KEY=... $0 BASE_URL [NAME_PREFIX]" >&2
    exit 2
fi
base_url="${1%/}"
prefix="${2:-socialsched}"
status_url="${STATUS_URL:-$base_url/$prefix-status}"
run_url="${RUN_URL:-$base_url/$prefix-run-http}"
api_url="${API_URL:-$base_url/$prefix-api}"
api_url="${api_url%/}"
publish_url="${PUBLISH_URL:-}"
: "${ADMIN_KEY:?set ADMIN_KEY to the admin key or an admin JWT}"
if [[ -n "$publish_url" ]]; then
    : "${TASKS_QUEUE:?with PUBLISH_URL, set TASKS_QUEUE to the queue (terraform output -raw tasks_queue)}"
    : "${TASKS_SERVICE_ACCOUNT:?with PUBLISH_URL, set TASKS_SERVICE_ACCOUNT to the tasks service account}"
fi
task_wait_seconds="${TASK_WAIT_SECONDS:-90}"

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
failures=0
code_seen=""

# request NAME EXPECTED_STATUSES CURL_ARGS...: prints one line, counts a mismatch as a failure.
# EXPECTED_STATUSES is one status or several separated by "|".
request() {
    local name="$1" expected="$2"
    shift 2
    local code
    code="$(curl --silent --show-error --max-time 330 --output "$body" --write-out '%{http_code}' "$@")" || code="000"
    code_seen="$code"
    if [[ "|$expected|" == *"|$code|"* ]]; then
        echo "ok   $name: $code"
    else
        echo "FAIL $name: got $code, expected $expected" >&2
        head -c 500 "$body" >&2 || true
        echo >&2
        failures=$((failures + 1))
    fi
}

iam=()
if [[ -n "${ID_TOKEN:-}" ]]; then
    iam=(--header "X-Serverless-Authorization: Bearer $ID_TOKEN")
fi

request "status answers" 200 "$status_url"
if [[ "$code_seen" == "403" ]]; then
    # Status is public by design; a 403 comes from Cloud Run IAM, before the app runs.
    echo "     status is not public: with public_access = \"allUsers\" the allUsers grant is missing" \
        "(refused by the organisation? see infra/terraform/README.md); with \"invoker_check_disabled\"" \
        "the invoker check is on again: terraform apply -replace='terraform_data.invoker_check_disabled[\"status\"]'" >&2
fi
if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$body" 2>/dev/null; then
    echo "FAIL status body is not JSON" >&2
    failures=$((failures + 1))
fi
request "manual run without the admin key is refused" 401 \
    --request POST "${iam[@]}" "$run_url"
request "manual run with the admin key runs" 200 \
    --request POST "${iam[@]}" --header @- "$run_url" <<<"Authorization: Bearer $ADMIN_KEY"

request "api without a key is refused" 401 "$api_url/v1/accounts"
if [[ "$code_seen" == "403" ]]; then
    echo "     the api is not public (Cloud Run IAM refused the call before the app): see public_access" \
        "in infra/terraform/README.md, or terraform apply -replace='terraform_data.invoker_check_disabled[\"api\"]'" >&2
fi
request "api with the admin key answers" 200 --header @- "$api_url/v1/accounts" \
    <<<"Authorization: Bearer $ADMIN_KEY"

# One task through Cloud Tasks, as the run functions create them: POST to publish's URL with an
# OIDC token of the tasks account for that URL. Succeeds when the task is gone (a 2xx ends it);
# fails with the last attempt's status when publish (or Cloud Run in front of it) refused it.
task_round_trip() {
    local task="smoke-$(date +%s)-$$" waited=0 attempt
    local queue_name="${TASKS_QUEUE##*/queues/}" location
    location="${TASKS_QUEUE#*/locations/}"
    location="${location%%/*}"
    if ! gcloud tasks create-http-task "$task" --queue="$queue_name" --location="$location" \
        --url="$publish_url" --method=POST --header=Content-Type:application/json \
        --body-content='{"postId": "000000000000000000000000", "version": 1, "dueAtMs": 0}' \
        --oidc-service-account-email="$TASKS_SERVICE_ACCOUNT" --oidc-token-audience="$publish_url" \
        --quiet >/dev/null 2>"$body"; then
        echo "FAIL a task for publish could not be created:" >&2
        head -c 500 "$body" >&2
        echo >&2
        failures=$((failures + 1))
        return
    fi
    while ((waited < task_wait_seconds)); do
        if ! attempt="$(gcloud tasks describe "$task" --queue="$queue_name" --location="$location" \
            --format='value(lastAttempt.responseStatus.code,lastAttempt.responseStatus.message)' 2>"$body")"; then
            if grep -q NOT_FOUND "$body"; then
                echo "ok   a Cloud Task with the tasks account's token reaches publish and is accepted"
                return
            fi
        fi
        sleep 5
        waited=$((waited + 5))
    done
    echo "FAIL the smoke task is still in the queue after ${task_wait_seconds} s; last attempt: ${attempt:-none}" \
        "(403/404: Cloud Run refused it, check the tasks account's roles/run.invoker and the ingress;" \
        "401/403 answered by publish: TASKS_AUDIENCE, TASKS_SERVICE_ACCOUNT, TASKS_INVOKER_CHECK)" >&2
    gcloud tasks delete "$task" --queue="$queue_name" --location="$location" --quiet >/dev/null 2>&1 || true
    failures=$((failures + 1))
}

if [[ -n "$publish_url" ]]; then
    # From outside, the internal ingress refuses before IAM or the app see anything.
    request "publish is unreachable from outside, even with a token" "403|404" --request POST \
        --header "Authorization: Bearer ${ID_TOKEN:-none}" "$publish_url"
    task_round_trip
fi

if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"

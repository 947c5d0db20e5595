#!/usr/bin/env bash
# Smoke test after a deploy: the public status function answers, and a manual run is refused
# without the admin key (401) and accepted with it (200).
#
#   ADMIN_KEY=... scripts/smoke.sh https://REGION-PROJECT.cloudfunctions.net [NAME_PREFIX]
#
# BASE_URL/NAME_PREFIX-status and BASE_URL/NAME_PREFIX-run-http are the functions' URLs;
# STATUS_URL and RUN_URL override them (e.g. with `terraform output -raw status_url`).
# ADMIN_KEY (or an admin JWT) is read from the environment, never from the command line, so it
# stays out of shell history and process lists. When run_http_invokers restricts the function
# with IAM, also set ID_TOKEN (`gcloud auth print-identity-token`); it travels in
# X-Serverless-Authorization, leaving Authorization to the app.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: ADMIN_KEY=... $0 BASE_URL [NAME_PREFIX]" >&2
    exit 2
fi
base_url="${1%/}"
prefix="${2:-socialsched}"
status_url="${STATUS_URL:-$base_url/$prefix-status}"
run_url="${RUN_URL:-$base_url/$prefix-run-http}"
: "${ADMIN_KEY:?set ADMIN_KEY to the admin key or an admin JWT}"

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
failures=0
code_seen=""

# request NAME EXPECTED_STATUS CURL_ARGS...: prints one line, counts a mismatch as a failure.
request() {
    local name="$1" expected="$2"
    shift 2
    local code
    code="$(curl --silent --show-error --max-time 330 --output "$body" --write-out '%{http_code}' "$@")" || code="000"
    code_seen="$code"
    if [[ "$code" == "$expected" ]]; then
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
    echo "     status is not public: with status_public_access = \"allUsers\" the allUsers grant is missing" \
        "(refused by the organisation? see infra/terraform/README.md); with \"invoker_check_disabled\"" \
        "the invoker check is on again: terraform apply -replace='terraform_data.status_invoker_check_disabled[0]'" >&2
fi
if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$body" 2>/dev/null; then
    echo "FAIL status body is not JSON" >&2
    failures=$((failures + 1))
fi
request "manual run without the admin key is refused" 401 \
    --request POST "${iam[@]}" "$run_url"
request "manual run with the admin key runs" 200 \
    --request POST "${iam[@]}" --header @- "$run_url" <<<"Authorization: Bearer $ADMIN_KEY"

if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"

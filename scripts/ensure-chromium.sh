#!/usr/bin/env bash
# The status-page test renders the page in headless Chromium (Debian's package). Install it when
# it is missing and this machine allows it (root and apt); otherwise say so: the test then skips
# with the same message.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and cannot be installed here (needs root and apt-get);" \
         "the status page browser test will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y -q chromium >/dev/null 2>&1; then
    exit 0
fi
if apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; then
    exit 0
fi
echo "could not install chromium with apt-get; the status page browser test will be skipped" >&2

#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (src/interfaces/web/web-ui.test.ts) when it is missing.
# Playwright's own browser download cannot reach its CDN on these machines, so the tests drive /usr/bin/chromium.
set -euo pipefail

if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version

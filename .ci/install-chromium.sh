#!/usr/bin/env bash
# Install Chromium and its WebDriver from the Debian packages, for the browser tests
# (tests/web/test_browser.py drives them headless with Selenium; nothing is downloaded at
# test time). Screenshots of the pages those tests visit are written to tests/artifacts/.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown)"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install chromium" >&2; exit 1; }
  sudo="sudo"
fi

echo "==> installing chromium and chromium-driver"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
  chromium chromium-driver
chromium --version

#!/usr/bin/env bash
# Install Postfix from the Debian packages, for the private test instances that
# tests/support/postfix.py starts (a real MTA that writes real delivery reports). The system
# service is not wanted: it is kept from starting (policy-rc.d), and stopped and disabled
# should it run anyway. About 12 s on Debian 12.
set -euo pipefail

if command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ]; then
  echo "postfix already installed: $(/usr/sbin/postconf -h mail_version 2>/dev/null || echo unknown)"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install postfix" >&2; exit 1; }
  sudo="sudo"
fi

# Debian's invoke-rc.d asks /usr/sbin/policy-rc.d whether a service may start; 101 = no.
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  made_policy=yes
fi
cleanup() { if [ "$made_policy" = yes ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

echo "==> installing postfix"
echo "postfix postfix/main_mailer_type select Local only" | $sudo debconf-set-selections
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix

# Belt and braces: whatever init system there is, the system instance must not run.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now postfix.service >/dev/null 2>&1 || true
else
  $sudo service postfix stop >/dev/null 2>&1 || true
  $sudo update-rc.d postfix disable >/dev/null 2>&1 || true
fi

/usr/sbin/postconf -h mail_version

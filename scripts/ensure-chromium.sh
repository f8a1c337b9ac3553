#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is at /usr/bin/chromium (Debian's package) for the dashboard's browser
# test (test/browser/dashboard.test.ts, driven by playwright-core). .ci/run calls this before `npm test`.
# Installs it with apt-get when missing (needs root or sudo); does nothing when it is already there.
# QBSYNC_CHROMIUM overrides the path the test uses (then this script only checks that file).
set -euo pipefail

CHROMIUM="${QBSYNC_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "chromium: $CHROMIUM is present"
  exit 0
fi
if [ -n "${QBSYNC_CHROMIUM:-}" ]; then
  echo "chromium: QBSYNC_CHROMIUM=$CHROMIUM is not an executable file" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: $CHROMIUM is missing and apt-get is not available; install Chromium yourself (or set QBSYNC_CHROMIUM)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "chromium: $CHROMIUM is missing and installing it needs root (no sudo)" >&2
    exit 1
  fi
fi

echo "chromium: $CHROMIUM is missing; installing Debian's chromium package (about 110 MB download)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null

if [ ! -x "$CHROMIUM" ]; then
  echo "chromium: the install finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"

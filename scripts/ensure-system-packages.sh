#!/usr/bin/env bash
# Installs the system packages Nightshift needs (git, bubblewrap; with --tests also chromium and
# chromium-driver) when they are missing.
# As root it uses apt-get; otherwise it says exactly what to install and fails.
set -euo pipefail
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${1:-}" = "--tests" ]; then  # the review page's headless-browser test (Debian's Chromium and driver)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "Nightshift needs these system packages: ${missing[*]}" >&2
echo "install them with: sudo apt-get install ${missing[*]}   (Debian/Ubuntu)" >&2
exit 1

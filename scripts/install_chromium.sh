#!/usr/bin/env bash
# Install the headless browser the page tests drive (Debian's `chromium` and `chromium-driver`).
# Idempotent: does nothing when both are already present.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install_chromium: chromium and chromedriver already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: apt-get not found; install chromium and its chromedriver" \
         "with your system's package manager" >&2
    exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
        echo "install_chromium: must run as root (or with sudo available)" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_opts=(-y -qq -o Dpkg::Use-Pty=0)
install() { "${sudo_cmd[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends chromium chromium-driver >>"$log" 2>&1; }
if ! install; then
    if ! { "${sudo_cmd[@]}" apt-get update -qq >>"$log" 2>&1 && install; }; then
        cat "$log" >&2
        echo "install_chromium: apt-get could not install chromium and chromium-driver" >&2
        exit 1
    fi
fi
echo "install_chromium: installed $(chromium --version 2>/dev/null || echo chromium)"

#!/usr/bin/env bash
# Install the PostgreSQL server the storage tests start (Debian/Ubuntu's `postgresql`).
# Idempotent: does nothing when initdb and pg_ctl are already present. The tests start their
# own server in a temp dir; the system-wide cluster the package would start is kept off.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1; then
    echo "install_postgres: PostgreSQL already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_postgres: apt-get not found; install the PostgreSQL server (initdb, pg_ctl)" \
         "with your system's package manager" >&2
    exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
        echo "install_postgres: must run as root (or with sudo available)" >&2; exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the package's maintainer scripts from starting the system-wide cluster.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    created_policy=1
fi
log=$(mktemp)
cleanup() { if [ "$created_policy" -eq 1 ]; then "${sudo_cmd[@]}" rm -f "$policy"; fi; rm -f "$log"; }
trap cleanup EXIT

apt_opts=(-y -qq -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
install() { "${sudo_cmd[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends postgresql >>"$log" 2>&1; }
if ! install; then
    if ! { "${sudo_cmd[@]}" apt-get update -qq >>"$log" 2>&1 && install; }; then
        cat "$log" >&2
        echo "install_postgres: apt-get could not install postgresql" >&2
        exit 1
    fi
fi
echo "install_postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -1)"

#!/usr/bin/env bash
# Install the packages a single-node SLURM test cluster needs (Debian/Ubuntu).
# Idempotent: does nothing when slurmctld, slurmd, sbatch and munged are already present.
# Runs non-interactively; needs root (or sudo) and apt-get.
set -euo pipefail

missing=0
for bin in slurmctld slurmd sbatch munged; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
        missing=1
    fi
done
if [ "$missing" -eq 0 ]; then
    echo "install_slurm: slurm and munge already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_slurm: apt-get not found; install slurmctld, slurmd, slurm-client and munge" \
         "with your system's package manager" >&2
    exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "install_slurm: must run as root (or with sudo available)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the packages' maintainer scripts from starting system-wide daemons.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then "${sudo_cmd[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

apt_opts=(-y -qq -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
packages=(slurmctld slurmd slurm-client munge)
log=$(mktemp)
trap 'cleanup; rm -f "$log"' EXIT
install() { "${sudo_cmd[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends "${packages[@]}" >>"$log" 2>&1; }
if ! install; then
    # The package lists may be missing or stale: refresh them once and retry.
    if ! { "${sudo_cmd[@]}" apt-get update -qq >>"$log" 2>&1 && install; }; then
        cat "$log" >&2
        echo "install_slurm: apt-get could not install ${packages[*]}" >&2
        exit 1
    fi
fi
echo "install_slurm: installed $(slurmd -V 2>/dev/null || echo slurm)"

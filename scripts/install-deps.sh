#!/usr/bin/env bash
# Installs what building Hyve and its guest programs needs from Debian's packages.
# Quick when everything is already there: apt-get runs only for missing packages.
set -euo pipefail

packages=(gcc make binutils libc6-dev acpica-tools)

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: no Swift toolchain on PATH; Hyve needs Swift 6 (https://www.swift.org/install/linux/)" >&2
    exit 1
fi

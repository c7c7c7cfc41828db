#!/usr/bin/env bash
# Runs every test: unit tests, guest programs on real KVM, and the hyve command line.
# With CI=true a missing /dev/kvm fails the KVM tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
if [ "${CI:-}" = "true" ] && [ ! -e /dev/kvm ]; then
    echo "test: CI=true but /dev/kvm is missing; the KVM tests cannot run" >&2
fi
# The Linux system tests' guest: built once, then taken from the cache in seconds.
scripts/build-linux-guest.sh
swift build --build-tests
# KVM guests run one at a time: timer tests count interrupts against wall time, which
# other VMs competing for the same cores would distort.
swift test --skip-build --no-parallel

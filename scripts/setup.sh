#!/usr/bin/env bash
# One command for a fresh machine: installs what Hyve needs, builds it, and boots a demo guest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build -c release
make -s -C guest OUT="$PWD/.build/guest-programs"

hyve="$(swift build -c release --show-bin-path)/hyve"
echo "Built $hyve. Booting the demo guest (a long-mode program on 2 vCPUs):"
set +e
"$hyve" --cpus 2 --memory 64M --program .build/guest-programs/long-hello.bin
status=$?
set -e
# The demo ends by writing 0x23 to isa-debug-exit: status (0x23 << 1) | 1.
if [ "$status" -ne 71 ]; then
    echo "setup: the demo guest ended with status $status, expected 71" >&2
    exit 1
fi
echo "Demo guest ran and exited through isa-debug-exit (status $status)."

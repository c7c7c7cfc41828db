#!/usr/bin/env bash
# One command for a fresh machine: installs what Hyve needs, builds it and the Linux demo guest,
# and boots that guest to a shell on this terminal ('poweroff -f' at its prompt ends it).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build -c release
scripts/build-linux-guest.sh .build/linux-guest

hyve="$(swift build -c release --show-bin-path)/hyve"
guest=(-c 2 -m 256M -l com1,stdio --kernel .build/linux-guest/vmlinux --initrd .build/linux-guest/initramfs.cpio
       --append "console=ttyS0 panic=-1")
echo "Built $hyve. Booting the demo Linux guest on 2 vCPUs (about a minute on a software-emulated KVM):"
set +e
if [ -t 0 ]; then
    echo "At the guest's shell prompt, 'poweroff -f' ends it."
    "$hyve" "${guest[@]}"
    status=$?
else
    # Not at a terminal: type at the guest's shell ourselves once it is up.
    coproc GUEST { "$hyve" "${guest[@]}" 2>&1; }
    pid=$GUEST_PID
    while IFS= read -r line <&"${GUEST[0]}"; do
        printf '%s\n' "$line"
        if [[ $line == *"hyve-guest: init ready"* ]]; then
            echo 'uname -a; grep -c ^processor /proc/cpuinfo; poweroff -f' >&"${GUEST[1]}"
        fi
    done
    wait "$pid"
    status=$?
fi
set -e
if [ "$status" -ne 1 ]; then
    echo "setup: the demo guest ended with status $status; a guest that powers off ends with 1" >&2
    exit 1
fi
echo "The demo guest powered off (status 1)."

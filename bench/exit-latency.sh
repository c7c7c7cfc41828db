#!/usr/bin/env bash
# exit-latency.sh: cost of one VM exit in Hyve versus a bare C KVM loop.
#
#   bench/exit-latency.sh [--reps R] [--c-only] [--hyve PATH]
#
#   --reps R      repetitions (default 5)
#   --c-only      measure only the C loop (bench/kvm-exit-loop.c)
#   --hyve PATH   use this hyve binary instead of `swift build -c release`
#
# Each rep runs exit-loop-small.bin (N_SMALL port writes) and
# exit-loop-large.bin (N_LARGE) under both VMMs, timing each process with the
# wall clock.  µs/exit = (t_large - t_small) / (N_large - N_small): the slope
# cancels process start-up, VM creation and teardown.  Both guests must end
# with isa-debug-exit status 77 ((0x26<<1)|1); anything else is a failure.
#
# Prints a table (median and min-max per VMM, ratio Hyve/C of the medians)
# and writes bench/results/exit-latency.json.
set -euo pipefail

N_SMALL=1000
N_LARGE=100000
EXPECTED_STATUS=77

reps=5
c_only=0
hyve=""
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps="${2:?--reps needs a value}"; shift 2 ;;
    --reps=*) reps="${1#--reps=}"; shift ;;
    --c-only) c_only=1; shift ;;
    --hyve) hyve="${2:?--hyve needs a path}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "exit-latency: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$reps" in
''|*[!0-9]*|0) echo "exit-latency: --reps must be a positive integer" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/hyve-exit-latency.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log() { printf '%s\n' "$*" >&2; }
fail() { log "exit-latency: $*"; exit 1; }

# ---- build -------------------------------------------------------------------

log "building guest programs and the C loop in $work"
make -s -C "$root/guest" OUT="$work/guest" \
    EXIT_LOOP_SMALL_N="$N_SMALL" EXIT_LOOP_LARGE_N="$N_LARGE" >&2 \
    || fail "guest build failed"
make -s -C "$root/bench" OUT="$work/bench" >&2 || fail "kvm-exit-loop build failed"
small="$work/guest/exit-loop-small.bin"
large="$work/guest/exit-loop-large.bin"
cloop="$work/bench/kvm-exit-loop"

if [ "$c_only" = 0 ] && [ -z "$hyve" ]; then
    log "building hyve (swift build -c release)"
    (cd "$root" && swift build -c release >&2) || fail "swift build failed"
    hyve="$(cd "$root" && swift build -c release --show-bin-path)/hyve"
fi
if [ "$c_only" = 0 ] && [ ! -x "$hyve" ]; then
    fail "hyve binary not found or not executable: $hyve"
fi

# ---- measure -------------------------------------------------------------------

# run_timed NAME PROGRAM CMD...: runs CMD, checks its status, echoes nanoseconds.
run_timed() {
    local name="$1" prog="$2" t0 t1 status
    shift 2
    t0=$(date +%s%N)
    set +e
    "$@" >"$work/last.out" 2>"$work/last.err"
    status=$?
    set -e
    t1=$(date +%s%N)
    if [ "$status" -ne "$EXPECTED_STATUS" ]; then
        log "exit-latency: $name on $(basename "$prog") exited with $status, expected $EXPECTED_STATUS"
        log "--- stdout:"; head -c 2000 "$work/last.out" >&2 || true
        log "--- stderr:"; head -c 2000 "$work/last.err" >&2 || true
        exit 1
    fi
    echo $((t1 - t0))
}

run_hyve() { run_timed hyve "$1" "$hyve" --mode long --memory 64M --program "$1"; }
run_c() { run_timed kvm-exit-loop "$1" "$cloop" "$1"; }

# µs per exit from two nanosecond timings.
slope() { awk -v s="$1" -v l="$2" -v n="$((N_LARGE - N_SMALL))" \
    'BEGIN { printf "%.4f", (l - s) / n / 1000 }'; }

# One untimed warm-up run each (page cache, CPU frequency, KVM module state).
run_c "$small" >/dev/null
[ "$c_only" = 1 ] || run_hyve "$small" >/dev/null

hyve_us=()
c_us=()
for ((i = 1; i <= reps; i++)); do
    if [ "$c_only" = 0 ]; then
        hs=$(run_hyve "$small"); hl=$(run_hyve "$large")
        hyve_us+=("$(slope "$hs" "$hl")")
    fi
    cs=$(run_c "$small"); cl=$(run_c "$large")
    c_us+=("$(slope "$cs" "$cl")")
    if [ "$c_only" = 0 ]; then
        log "rep $i/$reps: hyve ${hyve_us[-1]} us/exit, C loop ${c_us[-1]} us/exit"
    else
        log "rep $i/$reps: C loop ${c_us[-1]} us/exit"
    fi
done

# ---- report --------------------------------------------------------------------

# stats V...: prints "median min max" of the values.
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.4f %.4f %.4f\n", m, v[1], v[NR]
        }'
}

read -r c_med c_min c_max < <(stats "${c_us[@]}")
if [ "$c_only" = 0 ]; then
    read -r h_med h_min h_max < <(stats "${hyve_us[@]}")
    ratio=$(awk -v h="$h_med" -v c="$c_med" 'BEGIN { printf "%.2f", (c > 0) ? h / c : 0 }')
fi

echo
echo "VM exit latency (us per exit; slope between N=$N_SMALL and N=$N_LARGE; $reps reps)"
printf '%-16s %10s %22s\n' "VMM" "median" "min - max"
if [ "$c_only" = 0 ]; then
    printf '%-16s %10s %22s\n' "hyve" "$h_med" "$h_min - $h_max"
fi
printf '%-16s %10s %22s\n' "kvm-exit-loop" "$c_med" "$c_min - $c_max"
if [ "$c_only" = 0 ]; then
    printf '%-16s %10s\n' "ratio hyve/C" "$ratio"
fi

json_array() { local IFS=,; printf '[%s]' "$*"; }
mkdir -p "$root/bench/results"
out="$root/bench/results/exit-latency.json"
{
    printf '{\n'
    printf '  "benchmark": "exit-latency",\n'
    printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "host": "%s",\n' "$(uname -srm)"
    printf '  "reps": %d,\n' "$reps"
    printf '  "n_small": %d,\n' "$N_SMALL"
    printf '  "n_large": %d,\n' "$N_LARGE"
    printf '  "unit": "us_per_exit",\n'
    if [ "$c_only" = 0 ]; then
        printf '  "hyve": {"median": %s, "min": %s, "max": %s, "samples": %s},\n' \
            "$h_med" "$h_min" "$h_max" "$(json_array "${hyve_us[@]}")"
    else
        printf '  "hyve": null,\n'
    fi
    printf '  "c_loop": {"median": %s, "min": %s, "max": %s, "samples": %s},\n' \
        "$c_med" "$c_min" "$c_max" "$(json_array "${c_us[@]}")"
    if [ "$c_only" = 0 ]; then
        printf '  "ratio_hyve_over_c": %s\n' "$ratio"
    else
        printf '  "ratio_hyve_over_c": null\n'
    fi
    printf '}\n'
} >"$out"
echo
echo "wrote $out"

#!/usr/bin/env bash
# exit-latency.sh: cost of one VM exit in Hyve versus a bare C KVM loop.
#
#   bench/exit-latency.sh [--reps R] [--c-only] [--hyve PATH] [--out FILE]
#
#   --reps R      repetitions (default 5)
#   --c-only      measure only the C loop (bench/kvm-exit-loop.c)
#   --hyve PATH   use this hyve binary instead of `swift build -c release`
#   --out FILE    write the JSON here (default bench/results/exit-latency.json)
#
# Each rep runs exit-loop-small.bin (N_SMALL port writes) and
# exit-loop-large.bin (N_LARGE) under both VMMs, timing each process with the
# wall clock, then the same for MMIO writes (exit-loop-mmio-*.bin; pc-testdev's
# scratch memory in Hyve, dropped by the C loop).  µs/exit = (t_large - t_small)
# / (N_large - N_small): the slope cancels process start-up, VM creation and
# teardown.  Every guest must end with isa-debug-exit status 77 ((0x26<<1)|1).
#
# Prints a table (median and min-max per VMM, ratio Hyve/C of the medians)
# and writes the JSON: the port-I/O figures at the top level, the MMIO ones
# under "mmio".
set -euo pipefail

N_SMALL=1000
N_LARGE=100000
EXPECTED_STATUS=77

me=exit-latency
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/lib.sh"

reps=5
c_only=0
hyve=""
out="$root/bench/results/exit-latency.json"
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps="${2:?--reps needs a value}"; shift 2 ;;
    --reps=*) reps="${1#--reps=}"; shift ;;
    --c-only) c_only=1; shift ;;
    --hyve) hyve="${2:?--hyve needs a path}"; shift 2 ;;
    --out) out="${2:?--out needs a path}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "exit-latency: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$reps" in
''|*[!0-9]*|0) echo "exit-latency: --reps must be a positive integer" >&2; exit 2 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/hyve-exit-latency.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---- build -------------------------------------------------------------------

log "building guest programs and the C loop in $work"
make -s -C "$root/guest" OUT="$work/guest" \
    EXIT_LOOP_SMALL_N="$N_SMALL" EXIT_LOOP_LARGE_N="$N_LARGE" >&2 \
    || fail "guest build failed"
make -s -C "$root/bench" OUT="$work/bench" >&2 || fail "kvm-exit-loop build failed"
cloop="$work/bench/kvm-exit-loop"

[ "$c_only" = 1 ] || build_hyve

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

# measure_slope RUNNER KIND: µs per exit of one small/large pair ("" for port, "mmio-").
measure_slope() {
    local s l
    s=$("$1" "$work/guest/exit-loop-$2small.bin"); l=$("$1" "$work/guest/exit-loop-$2large.bin")
    slope "$s" "$l"
}

# One untimed warm-up run each (page cache, CPU frequency, KVM module state).
run_c "$work/guest/exit-loop-small.bin" >/dev/null
[ "$c_only" = 1 ] || run_hyve "$work/guest/exit-loop-small.bin" >/dev/null

hyve_us=(); c_us=(); hyve_mmio_us=(); c_mmio_us=()
for ((i = 1; i <= reps; i++)); do
    if [ "$c_only" = 0 ]; then
        hyve_us+=("$(measure_slope run_hyve "")")
    fi
    c_us+=("$(measure_slope run_c "")")
    if [ "$c_only" = 0 ]; then
        hyve_mmio_us+=("$(measure_slope run_hyve mmio-)")
    fi
    c_mmio_us+=("$(measure_slope run_c mmio-)")
    if [ "$c_only" = 0 ]; then
        log "rep $i/$reps: port I/O: hyve ${hyve_us[-1]}, C loop ${c_us[-1]}; MMIO: hyve ${hyve_mmio_us[-1]}, C loop ${c_mmio_us[-1]} us/exit"
    else
        log "rep $i/$reps: C loop: port I/O ${c_us[-1]}, MMIO ${c_mmio_us[-1]} us/exit"
    fi
done

# ---- report --------------------------------------------------------------------

# report KIND PREFIX HYVE-ARRAY C-ARRAY INDENT: a table block; sets json_<prefix> (JSON members, INDENT between lines).
report() {
    local kind="$1" prefix="$2" c_med c_min c_max h_med="" h_min h_max r
    local -n hs="$3" cs="$4"
    read -r c_med c_min c_max < <(stats "${cs[@]}")
    if [ "$c_only" = 0 ]; then
        read -r h_med h_min h_max < <(stats "${hs[@]}")
        printf '%-22s %10s %22s\n' "$kind hyve" "$h_med" "$h_min - $h_max"
    fi
    printf '%-22s %10s %22s\n' "$kind kvm-exit-loop" "$c_med" "$c_min - $c_max"
    r=$(ratio "$h_med" "$c_med")
    [ "$c_only" = 1 ] || printf '%-22s %10s\n' "$kind ratio hyve/C" "$r"
    printf -v "json_$prefix" '"hyve": %s,\n%s"c_loop": %s,\n%s"ratio_hyve_over_c": %s' \
        "$(json_stats "${hs[@]}")" "$5" "$(json_stats "${cs[@]}")" "$5" "$r"
}

echo
echo "VM exit latency (us per exit; slope between N=$N_SMALL and N=$N_LARGE; $reps reps)"
printf '%-22s %10s %22s\n' "VMM" "median" "min - max"
report "port" port hyve_us c_us "  "
report "MMIO" mmio hyve_mmio_us c_mmio_us "    "

mkdir -p "$(dirname "$out")"
{
    printf '{\n'
    printf '  "benchmark": "exit-latency",\n'
    printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "host": "%s",\n' "$(uname -srm)"
    printf '  "reps": %d,\n' "$reps"
    printf '  "n_small": %d,\n' "$N_SMALL"
    printf '  "n_large": %d,\n' "$N_LARGE"
    printf '  "unit": "us_per_exit",\n'
    printf '  %s,\n' "$json_port"
    printf '  "mmio": {\n    %s\n  }\n' "$json_mmio"
    printf '}\n'
} >"$out"
echo
echo "wrote $out"

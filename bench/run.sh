#!/usr/bin/env bash
# run.sh: Hyve side by side with QEMU (the peer) and a bare C KVM loop (the
# limit), in one run so that machine noise hits all of them alike.
#
#   bench/run.sh [--reps N] [--guest DIR] [--hyve PATH] [--name NAME] [--keep]
#
#   --reps N      repetitions of every measurement (default 3)
#   --guest DIR   the Linux test guest: vmlinux and initramfs.cpio, as
#                 scripts/build-linux-guest.sh leaves them (default .build/linux-guest)
#   --hyve PATH   use this hyve binary instead of `swift build -c release`
#   --name NAME   write bench/results/NAME.json (default peers)
#   --keep        keep the work directory (consoles, stderr, perf data) for a closer look
#
# Runs of the different VMMs alternate rep by rep (and rotate their order),
# so load on this shared machine spreads over all of them.  Each figure is
# the median with min-max over the reps; ratios are of the medians.
#
# 1. Boot to the guest's first user-space line: wall time from just before the
#    VMM is spawned to the `hyve-guest: init ready` line on its serial console
#    (stdout, time-stamped line by line as it arrives), for Hyve (--lapic kernel,
#    and --lapic user when `hyve --help` lists --lapic) and `qemu-system-x86_64
#    -enable-kvm -M microvm`: same PVH vmlinux, initramfs, 256 MiB, 1 vCPU and
#    kernel command line.  Hyve adds this host's work-around words (noxsave
#    clearcpuid=…) itself; QEMU gets the same words (read from `hyve --verbose`)
#    and `-cpu host` minus what Hyve's CPUID table hides (cx16 here) and minus
#    arch-capabilities (this KVM cannot set that MSR; QEMU aborts otherwise).
#    QEMU keeps its own PV features (kvm-clock) and TSC-deadline, which Hyve
#    does not offer.  Hyve's boot-timer mark (port 0x80, written by /init) is
#    reported too, as time since hyve's main().  Each run ends with
#    `poweroff -f` typed at the shell.
# 2. VMM resident memory excluding guest RAM, as Firecracker measures it: the
#    Rss of /proc/PID/smaps minus that of the guest-memory mappings (Hyve: its
#    memfd "hyve-guest-ram"; QEMU: the anonymous mapping of at least the guest
#    size, its RAM block), sampled during the boot (every 50 ms for the first
#    2 s, then every 0.5 s; the peak is reported) and once at the shell.
#    Shared-library pages count, as in RSS.
# 3. Process start to the first KVM_RUN: `perf record` of the execve return,
#    the KVM_RUN ioctls (first one wins) and a task-clock sample every 250 µs
#    of CPU (CPU time = samples before the first KVM_RUN x 0.25 ms; the
#    sampling adds ~5 %), for Hyve and QEMU booting the same Linux guest
#    (killed once the kernel prints).  Tracepoints, not ptrace: the VMM runs at
#    nearly full speed.  Also Hyve with guest/boot-marker.S, whose first act
#    writes port 0x80: with --boot-timer hyve reports wall time since main()
#    and CPU time since exec (run without perf); the exec -> main gap is
#    perf's exec -> KVM_RUN minus hyve's own figure in the same traced run.
#    Without perf only the boot-timer figures are reported.
# 4. Port-I/O and MMIO exit round trip: bench/exit-latency.sh (Hyve vs
#    bench/kvm-exit-loop.c, slope between 1000 and 100000 exits).
# 5. virtio-blk and virtio-net throughput: Hyve has no virtio devices yet, so
#    the row reads n/a.  Once `-s N,virtio-blk,PATH` works, the boots get a
#    64 MiB disk and the shell times `dd if=/dev/vda` on both VMMs.
#
# Installs qemu-system-x86 and jq when missing.  Prints one table and writes
# bench/results/NAME.json.  Targets (issue 9), reported and not enforced:
# boot <= 0.8x QEMU microvm; VMM RSS <= 5 MiB; start -> first KVM_RUN <= 10 ms;
# exit round trip <= 1.1x the bare loop.
set -euo pipefail
export LC_ALL=C

MEMORY=256M
MEMORY_KB=262144
APPEND="console=ttyS0 panic=-1"
READY_LINE="hyve-guest: init ready"
BOOT_TIMEOUT=900
SHELL_TIMEOUT=120
KVM_RUN=0xae80
CPU_SAMPLE_NS=250000
VIRTIO_DISK_MIB=64

me=run
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/lib.sh"

reps=3
guest_dir="$root/.build/linux-guest"
hyve=""
name=peers
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps="${2:?--reps needs a value}"; shift 2 ;;
    --reps=*) reps="${1#--reps=}"; shift ;;
    --guest) guest_dir="${2:?--guest needs a directory}"; shift 2 ;;
    --hyve) hyve="${2:?--hyve needs a path}"; shift 2 ;;
    --name) name="${2:?--name needs a value}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$reps" in
''|*[!0-9]*|0) echo "run: --reps must be a positive integer" >&2; exit 2 ;;
esac
vmlinux="$guest_dir/vmlinux"
initrd="$guest_dir/initramfs.cpio"
[ -f "$vmlinux" ] && [ -f "$initrd" ] \
    || fail "no Linux test guest in $guest_dir (run scripts/build-linux-guest.sh, or give --guest DIR)"

work="$(mktemp -d "${TMPDIR:-/tmp}/hyve-bench.XXXXXX")"
vmm_pid=""
cleanup() {
    if [ -n "$vmm_pid" ] && kill -0 "$vmm_pid" 2>/dev/null; then kill -KILL "$vmm_pid" 2>/dev/null || true; fi
    if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- set-up ------------------------------------------------------------------

ensure_packages qemu-system-x86_64:qemu-system-x86 jq:jq
qemu=qemu-system-x86_64
[ -r /dev/kvm ] || fail "/dev/kvm is not accessible"

log "building guest programs in $work"
make -s -C "$root/guest" OUT="$work/guest" >&2 || fail "guest build failed"
marker_program="$work/guest/boot-marker.bin"
build_hyve
cat "$vmlinux" "$initrd" >/dev/null

has_perf=0
if command -v perf >/dev/null 2>&1 \
    && perf record -q -o "$work/probe.perf" -e syscalls:sys_enter_ioctl -- true >/dev/null 2>&1; then
    has_perf=1
else
    log "perf cannot trace syscalls here: start -> first KVM_RUN from the boot timer only"
fi

lapic_modes=("")
if "$hyve" --help 2>&1 | grep -q -- '--lapic'; then lapic_modes=(kernel user); fi

# Hyve's host profile: the words it adds to a Linux command line and the
# features its CPUID table hides, so that QEMU's guest gets the same.
probe_profile() {
    local err="$work/profile.err" pid i
    "$hyve" --verbose -m "$MEMORY" --kernel "$vmlinux" --initrd "$initrd" --append "$APPEND" \
        </dev/null >/dev/null 2>"$err" &
    pid=$!
    for ((i = 0; i < 200; i++)); do
        grep -q 'host profile:' "$err" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -m1 'host profile:' "$err" || fail "hyve --verbose reported no host profile: $(head -c 500 "$err")"
}
profile="$(probe_profile)"
host_words="$(sed -n 's/.*kernel command line adds \(.*\)$/\1/p' <<<"$profile")"
case "$host_words" in none*) host_words="" ;; esac
qemu_cpu="host,-arch-capabilities"
for feature in $(sed -n 's/.*CPUID table hides \([^;]*\);.*/\1/p' <<<"$profile" | tr ',' ' '); do
    [ "$feature" = nothing ] || qemu_cpu+=",-$feature"
done
log "QEMU: -cpu $qemu_cpu, append \"$APPEND${host_words:+ $host_words}\""

# virtio-blk: measured once Hyve has it.
virtio_disk="$work/virtio.img"
truncate -s "${VIRTIO_DISK_MIB}M" "$virtio_disk"
set +e
"$hyve" -m 16M -s "3,virtio-blk,$virtio_disk" --mode long --program "$marker_program" </dev/null >/dev/null 2>&1
[ $? -eq 77 ] && has_virtio=1 || has_virtio=0
set -e

# vmm_command CONFIG: sets `cmd` to the command line of one boot (CONFIG as in boot_configs).
vmm_command() {
    case "$1" in
    hyve*)
        cmd=("$hyve" --boot-timer -c 1 -m "$MEMORY" -l com1,stdio
             --kernel "$vmlinux" --initrd "$initrd" --append "$APPEND")
        [ "$1" = hyve ] || cmd+=(--lapic "${1#hyve-lapic-}")
        [ "$has_virtio" = 0 ] || cmd+=(-s "3,virtio-blk,$virtio_disk")
        ;;
    qemu)
        cmd=("$qemu" -enable-kvm -M microvm -cpu "$qemu_cpu" -smp 1 -m "$MEMORY"
             -nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot
             -kernel "$vmlinux" -initrd "$initrd" -append "$APPEND${host_words:+ $host_words}")
        [ "$has_virtio" = 0 ] || cmd+=(-drive "file=$virtio_disk,format=raw,if=none,id=vblk"
                                         -device virtio-blk-device,drive=vblk)
        ;;
    esac
}

boot_configs=()
for mode in "${lapic_modes[@]}"; do boot_configs+=("hyve${mode:+-lapic-$mode}"); done
boot_configs+=(qemu)

# ---- helpers -------------------------------------------------------------------

now() { printf '%s\n' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { printf "%.4f\n", (b - a) * s }'; }

# Copies stdin to stdout with each line prefixed by its arrival time.
stamp_lines() {
    local line
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}

# rss_sample PID KIND: "rss_kb guest_kb" from /proc/PID/smaps (KIND hyve or qemu).
rss_sample() {
    awk -v kind="$2" -v guest_kb="$MEMORY_KB" '
        /^[0-9a-f]+-[0-9a-f]+ / { name = $6 }
        /^Size:/ { size = $2 }
        /^Rss:/ {
            total += $2
            if (kind == "hyve" ? index(name, "memfd:hyve-guest-ram") > 0 : (name == "" && size >= guest_kb)) guest += $2
        }
        END { printf "%d %d\n", total, guest }' "/proc/$1/smaps" 2>/dev/null
}

# vmm_mib PID KIND: MiB of RSS outside guest RAM, or nothing when the process is gone.
vmm_mib() {
    local total guest
    read -r total guest < <(rss_sample "$1" "$2") || return 0
    awk -v t="$total" -v g="$guest" 'BEGIN { printf "%.2f\n", (t - g) / 1024 }'
}

# first_stamp FILE TEXT [AFTER]: arrival time of the first line containing TEXT (after time AFTER).
first_stamp() {
    awk -v text="$2" -v after="${3:-0}" '$1 > after && index($0, text) { print $1; exit }' "$1"
}

# stop_vmm PID: waits for the VMM to end by itself, then terminates it; sets `status`.
stop_vmm() {
    local pid="$1" i
    for ((i = 0; i < SHELL_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    set +e; wait "$pid"; status=$?; set -e
}

# ---- 1, 2 (and 5): boots -------------------------------------------------------

declare -A boot_s rss_boot rss_shell marker_s blk_mb_s

# boot_once CONFIG REP: one boot to the shell, measured; appends to the arrays above.
boot_once() {
    local config="$1" rep="$2" kind="${1%%-*}" prefix="$work/boot-$1-$2" fifo in t0 t_ready mib peak=0
    local shell_mib
    vmm_command "$config"
    fifo="$prefix.in"
    mkfifo "$fifo"
    exec {in}<>"$fifo"
    t0=$(now)
    "${cmd[@]}" <"$fifo" > >(stamp_lines >"$prefix.console") 2>"$prefix.err" &
    vmm_pid=$!
    while ! grep -q "$READY_LINE" "$prefix.console" 2>/dev/null; do
        if ! kill -0 "$vmm_pid" 2>/dev/null; then
            log "--- console:"; tail -c 3000 "$prefix.console" >&2 || true
            log "--- stderr:"; tail -c 2000 "$prefix.err" >&2 || true
            fail "$config ended before its shell (rep $rep)"
        fi
        if awk -v a="$t0" -v b="$(now)" -v l="$BOOT_TIMEOUT" 'BEGIN { exit !(b - a > l) }'; then
            fail "$config: no shell within $BOOT_TIMEOUT s (rep $rep)"
        fi
        mib=$(vmm_mib "$vmm_pid" "$kind")
        [ -z "$mib" ] || peak=$(awk -v a="$peak" -v b="$mib" 'BEGIN { print (b > a) ? b : a }')
        # Densely at first, to catch the loader's transient copies of kernel and initrd.
        if awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 2) }'; then sleep 0.05; else sleep 0.5; fi
    done
    sleep 0.2
    t_ready=$(first_stamp "$prefix.console" "$READY_LINE")
    sleep 1
    shell_mib=$(vmm_mib "$vmm_pid" "$kind")
    if [ "$has_virtio" = 1 ]; then
        blk_mb_s[$config]+=" $(disk_read "$prefix.console" "$in" "$t_ready")"
    fi
    printf 'poweroff -f\n' >&"$in"
    stop_vmm "$vmm_pid"
    vmm_pid=""
    exec {in}>&-
    boot_s[$config]+=" $(elapsed "$t0" "$t_ready")"
    rss_boot[$config]+=" $peak"
    rss_shell[$config]+=" ${shell_mib:-0}"
    if [ "$kind" = hyve ]; then
        local mark
        mark=$(sed -n 's/.*boot marker 0x[0-9a-f]*: \([0-9.]*\) ms wall.*/\1/p' "$prefix.err" | head -1)
        [ -z "$mark" ] || marker_s[$config]+=" $(elapsed 0 "$mark" 0.001)"
    fi
    log "rep $rep/$reps: $config: init line after $(elapsed "$t0" "$t_ready") s; VMM RSS excl. guest RAM: boot peak $peak MiB, shell ${shell_mib:-?} MiB; exit status $status"
}

# disk_read CONSOLE FD AFTER: MB/s of `dd if=/dev/vda` in the guest, net of an empty dd.
disk_read() {
    local console="$1" fd="$2" after="$3" a b c i mark="printf '@@%s\\n'"
    # printf writes the markers, so the terminal's echo of the line cannot match them.
    printf '%s\n' "$mark vblk-a; dd if=/dev/vda of=/dev/null bs=1M count=0; $mark vblk-b; dd if=/dev/vda of=/dev/null bs=1M; $mark vblk-c" >&"$fd"
    for ((i = 0; i < SHELL_TIMEOUT * 10; i++)); do
        grep -q '^[0-9.]* @@vblk-c' "$console" && break
        sleep 0.1
    done
    a=$(first_stamp "$console" "@@vblk-a" "$after"); b=$(first_stamp "$console" "@@vblk-b" "$after")
    c=$(first_stamp "$console" "@@vblk-c" "$after")
    [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] || { echo 0; return; }
    awk -v a="$a" -v b="$b" -v c="$c" -v mib="$VIRTIO_DISK_MIB" \
        'BEGIN { d = (c - b) - (b - a); printf "%.1f\n", (d > 0) ? mib * 1.048576 / d : 0 }'
}

# ---- 3: start -> first KVM_RUN -----------------------------------------------

declare -A s3_wall s3_cpu
marker_wall=(); marker_cpu=(); exec_to_main=()

# perf_first_run LABEL [cpu]: runs `cmd` under perf record until its kernel prints (or it
# exits); echoes "wall_ms cpu_ms" from exec to the first KVM_RUN (cpu_ms 0 unless sampled).
perf_first_run() {
    local label="$1" data="$work/$1.perf" out="$work/$1.out" pid child i sampling=()
    [ "${2:-}" != cpu ] || sampling=(-e task-clock -c "$CPU_SAMPLE_NS")
    perf record -q -o "$data" "${sampling[@]}" -e syscalls:sys_exit_execve \
        -e syscalls:sys_enter_ioctl --filter "cmd == $KVM_RUN" -- "${cmd[@]}" \
        </dev/null >"$out" 2>"$work/$label.err" &
    pid=$!
    for ((i = 0; i < 1200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        grep -q 'Linux version' "$out" 2>/dev/null && break
        sleep 0.05
    done
    for child in $(ps -o pid= --ppid "$pid"); do kill -KILL "$child" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
    perf script -i "$data" -F pid,time,event 2>/dev/null | awk -v period="$CPU_SAMPLE_NS" '
        { t = $2; sub(/:$/, "", t) }
        /sys_exit_execve/ && !exec { exec = t; pid = $1 }
        /sys_enter_ioctl/ && !run { run = t }
        /task-clock/ && !run && $1 == pid { samples++ }
        END { if (exec && run) printf "%.2f %.2f\n", (run - exec) * 1000, samples * period / 1e6 }'
}

# marker_times FILE: "wall_ms cpu_ms" of hyve's report of boot-marker.bin's mark in FILE.
marker_times() {
    sed -n 's/.*boot marker 0x01: \([0-9.]*\) ms wall, \([0-9.]*\) ms CPU.*/\1 \2/p' "$1" | head -1 | grep . \
        || fail "hyve reported no boot marker for boot-marker.bin: $(head -c 500 "$1")"
}

measure_start() {
    local rep="$1" r wall cpu mark_wall mark_cpu perf_mark
    cmd=("$hyve" --boot-timer -m "$MEMORY" --mode long --program "$marker_program")
    # The boot-timer figures come from a run without perf, whose sampling alone adds ~20 %.
    "${cmd[@]}" </dev/null >/dev/null 2>"$work/start-marker-$rep.err" || true
    read -r mark_wall mark_cpu < <(marker_times "$work/start-marker-$rep.err")
    marker_wall+=("$mark_wall"); marker_cpu+=("$mark_cpu")
    [ "$has_perf" = 1 ] || return 0
    r=$(perf_first_run "start-marker-perf-$rep")
    read -r wall cpu <<<"$r"
    read -r perf_mark cpu < <(marker_times "$work/start-marker-perf-$rep.err")
    exec_to_main+=("$(awk -v a="$wall" -v b="$perf_mark" 'BEGIN { printf "%.2f", a - b }')")
    for config in "${boot_configs[0]}" qemu; do
        vmm_command "$config"
        r=$(perf_first_run "start-$config-$rep" cpu)
        [ -n "$r" ] || fail "$config: perf saw no exec and KVM_RUN"
        read -r wall cpu <<<"$r"
        s3_wall[${config%%-*}]+=" $wall"; s3_cpu[${config%%-*}]+=" $cpu"
    done
    log "rep $rep/$reps: start -> first KVM_RUN: hyve ${s3_wall[hyve]##* } ms wall ${s3_cpu[hyve]##* } ms CPU," \
        "qemu ${s3_wall[qemu]##* } ms wall ${s3_cpu[qemu]##* } ms CPU; boot marker $mark_wall ms since main"
}

# ---- run -------------------------------------------------------------------------

log "measuring start-up ($reps reps)"
for ((rep = 1; rep <= reps; rep++)); do measure_start "$rep"; done

log "measuring exit round trips (bench/exit-latency.sh --reps $reps)"
"$root/bench/exit-latency.sh" --reps "$reps" --hyve "$hyve" --out "$work/exit-latency.json" >/dev/null

log "measuring boots (${boot_configs[*]}; $reps reps, a few minutes each on this KVM)"
for ((rep = 1; rep <= reps; rep++)); do
    n=${#boot_configs[@]}
    for ((k = 0; k < n; k++)); do
        boot_once "${boot_configs[$(((k + rep - 1) % n))]}" "$rep"
    done
done

# ---- report ----------------------------------------------------------------------

# med VALUES: the median, or empty.
med() { [ $# -eq 0 ] || { stats "$@" | cut -d' ' -f1; }; }
# cell DECIMALS VALUES: "median [min-max]", or n/a.
cell() {
    local d="$1"; shift
    [ $# -gt 0 ] || { echo "n/a"; return; }
    stats "$@" | awk -v d="$d" '{ f = "%." d "f"; printf(f " [" f "-" f "]\n", $1, $2, $3) }'
}
# verdict VALUE LIMIT: yes/NO for VALUE <= LIMIT, or "-" without a value.
verdict() {
    awk -v v="$1" -v l="$2" 'BEGIN { if (v == "" || v == "null") print "-"; else print (v + 0 <= l + 0) ? "yes" : "NO" }'
}
row() { printf '%-48s %-24s %-24s %-6s %-13s %s\n' "$@"; }

el="$work/exit-latency.json"
port_h=$(jq -r '.hyve.samples | join(" ")' "$el"); port_c=$(jq -r '.c_loop.samples | join(" ")' "$el")
mmio_h=$(jq -r '.mmio.hyve.samples | join(" ")' "$el"); mmio_c=$(jq -r '.mmio.c_loop.samples | join(" ")' "$el")

qemu_boot_med=$(med ${boot_s[qemu]})

echo
echo "Hyve vs QEMU $($qemu --version | head -1 | awk '{print $4}') microvm and a bare KVM loop ($reps reps; median [min-max]; $(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
row "metric" "hyve" "peer: QEMU / bare loop" "ratio" "target" "met"
for config in "${boot_configs[@]}"; do
    [ "$config" = qemu ] && continue
    label="1 boot to init line, s"
    [ "$config" = hyve ] || label+=" (${config#hyve-lapic-} LAPIC)"
    r=$(ratio "$(med ${boot_s[$config]})" "$qemu_boot_med")
    row "$label" "$(cell 1 ${boot_s[$config]})" "$(cell 1 ${boot_s[qemu]})" "$r" "<= 0.8x QEMU" "$(verdict "$r" 0.8)"
done
[ "${#lapic_modes[@]}" -gt 1 ] \
    || row "1 boot, --lapic user" "n/a (hyve has no --lapic yet)" "" "" "" ""
row "  hyve mark by /init, s since main" "$(cell 1 ${marker_s[${boot_configs[0]}]:-})" "" "" "" ""
for what in boot shell; do
    declare -n rss="rss_$what"
    for config in "${boot_configs[@]}"; do
        [ "$config" = qemu ] && continue
        label="2 RSS excl. guest RAM, MiB, ${what/boot/peak}"
        [ "$config" = hyve ] || label+=" (${config#hyve-lapic-} LAPIC)"
        row "$label" "$(cell 2 ${rss[$config]})" "$(cell 2 ${rss[qemu]})" \
            "$(ratio "$(med ${rss[$config]})" "$(med ${rss[qemu]})")" "<= 5 MiB" "$(verdict "$(med ${rss[$config]})" 5)"
    done
    unset -n rss
done
if [ "$has_perf" = 1 ]; then
    row "3 exec -> 1st KVM_RUN, Linux, ms wall" "$(cell 1 ${s3_wall[hyve]})" "$(cell 1 ${s3_wall[qemu]})" \
        "$(ratio "$(med ${s3_wall[hyve]})" "$(med ${s3_wall[qemu]})")" "<= 10 ms" "$(verdict "$(med ${s3_wall[hyve]})" 10)"
    row "3 exec -> 1st KVM_RUN, Linux, ms CPU" "$(cell 1 ${s3_cpu[hyve]})" "$(cell 1 ${s3_cpu[qemu]})" \
        "$(ratio "$(med ${s3_cpu[hyve]})" "$(med ${s3_cpu[qemu]})")" "<= 10 ms" "$(verdict "$(med ${s3_cpu[hyve]})" 10)"
else
    row "3 exec -> 1st KVM_RUN, Linux" "n/a (no perf)" "n/a (no perf)" "" "<= 10 ms" "-"
fi
row "  marker guest: main -> mark, ms wall" "$(cell 1 "${marker_wall[@]}")" "" "" "<= 10 ms" "$(verdict "$(med "${marker_wall[@]}")" 10)"
row "  marker guest: CPU since exec, ms" "$(cell 1 "${marker_cpu[@]}")" "" "" "<= 10 ms" "$(verdict "$(med "${marker_cpu[@]}")" 10)"
row "  marker guest: exec -> main, ms wall" "$(cell 1 ${exec_to_main[@]+"${exec_to_main[@]}"})" "" "" "" ""
r=$(ratio "$(med $port_h)" "$(med $port_c)")
row "4 port-I/O exit, us" "$(cell 2 $port_h)" "$(cell 2 $port_c)" "$r" "<= 1.1x bare" "$(verdict "$r" 1.1)"
r=$(ratio "$(med $mmio_h)" "$(med $mmio_c)")
row "4 MMIO exit, us" "$(cell 2 $mmio_h)" "$(cell 2 $mmio_c)" "$r" "<= 1.1x bare" "$(verdict "$r" 1.1)"
if [ "$has_virtio" = 1 ]; then
    config="${boot_configs[0]}"
    row "5 virtio-blk read, MB/s" "$(cell 0 ${blk_mb_s[$config]})" "$(cell 0 ${blk_mb_s[qemu]})" \
        "$(ratio "$(med ${blk_mb_s[$config]})" "$(med ${blk_mb_s[qemu]})")" "" ""
    row "5 virtio-net" "not measured yet" "" "" "" ""
else
    row "5 virtio-blk / virtio-net" "n/a (no virtio yet)" "" "" "" ""
fi

# ---- JSON ------------------------------------------------------------------------

# by_config ARRAY-NAME [hyve]: {"<config>": stats, …} over the boot configurations (Hyve's only).
by_config() {
    local -n values="$1"
    local config sep=""
    printf '{'
    for config in "${boot_configs[@]}"; do
        [ "${2:-}" != hyve ] || [ "$config" != qemu ] || continue
        printf '%s"%s": %s' "$sep" "$config" "$(json_stats ${values[$config]:-})"
        sep=", "
    done
    printf '}'
}

mkdir -p "$root/bench/results"
out="$root/bench/results/$name.json"
{
    printf '{\n'
    printf '  "benchmark": "peers",\n'
    printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "host": "%s",\n' "$(uname -srm)"
    printf '  "host_cpus": %d,\n' "$(nproc)"
    printf '  "reps": %d,\n' "$reps"
    printf '  "qemu": "%s",\n' "$($qemu --version | head -1)"
    printf '  "qemu_cpu": "%s",\n' "$qemu_cpu"
    printf '  "append": "%s",\n' "$APPEND${host_words:+ $host_words}"
    printf '  "memory_mib": %d,\n' $((MEMORY_KB / 1024))
    printf '  "hyve_configs": [%s],\n' "$(printf '"%s",' "${boot_configs[@]}" | sed 's/,$//')"
    printf '  "targets": {"boot_ratio_over_qemu": 0.8, "vmm_rss_mib": 5, "start_to_first_kvm_run_ms": 10, "exit_ratio_over_bare": 1.1},\n'
    printf '  "boot_to_init_line_s": %s,\n' "$(by_config boot_s)"
    printf '  "hyve_boot_mark_since_main_s": %s,\n' "$(by_config marker_s hyve)"
    printf '  "vmm_rss_excl_guest_mib": {"boot_peak": %s, "shell": %s},\n' "$(by_config rss_boot)" "$(by_config rss_shell)"
    printf '  "start_to_first_kvm_run_ms": {\n'
    printf '    "linux_guest_perf": {"hyve_wall": %s, "hyve_cpu": %s, "qemu_wall": %s, "qemu_cpu": %s},\n' \
        "$(json_stats ${s3_wall[hyve]:-})" "$(json_stats ${s3_cpu[hyve]:-})" \
        "$(json_stats ${s3_wall[qemu]:-})" "$(json_stats ${s3_cpu[qemu]:-})"
    printf '    "hyve_marker_program": {"wall_since_main": %s, "cpu_since_exec": %s, "exec_to_main": %s}\n' \
        "$(json_stats "${marker_wall[@]}")" "$(json_stats "${marker_cpu[@]}")" \
        "$(json_stats ${exec_to_main[@]+"${exec_to_main[@]}"})"
    printf '  },\n'
    printf '  "exit_round_trip_us": %s,\n' "$(jq -c '{reps, n_small, n_large, port: {hyve, c_loop, ratio_hyve_over_c}, mmio}' "$el")"
    if [ "$has_virtio" = 1 ]; then
        printf '  "virtio_blk_read_mb_s": %s,\n' "$(by_config blk_mb_s)"
    else
        printf '  "virtio_blk_read_mb_s": null,\n'
    fi
    printf '  "virtio_net": null\n'
    printf '}\n'
} >"$out"
jq . "$out" >/dev/null || fail "wrote invalid JSON to $out"
echo
echo "wrote $out"

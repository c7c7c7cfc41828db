# lib.sh: helpers the bench/ scripts share; source it, do not run it.
# The sourcing script sets `me` (its name, for messages) and `root` (the
# repository) first.

log() { printf '%s\n' "$*" >&2; }
fail() { log "$me: $*"; exit 1; }

# stats V...: prints "median min max" of the values (4 decimals).
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.4f %.4f %.4f\n", m, v[1], v[NR]
        }'
}

# ratio A B: A / B with two decimals, or "null" when B is zero or either is missing.
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
        if (a == "" || b == "" || a == "null" || b == "null" || b + 0 == 0) print "null"
        else printf "%.2f\n", a / b }'
}

json_array() { local IFS=,; printf '[%s]' "$*"; }

# json_stats V...: {"median": …, "min": …, "max": …, "samples": […]}, or null without values.
json_stats() {
    if [ $# -eq 0 ]; then printf 'null'; return; fi
    local med min max
    read -r med min max < <(stats "$@")
    printf '{"median": %s, "min": %s, "max": %s, "samples": %s}' "$med" "$min" "$max" "$(json_array "$@")"
}

# build_hyve: sets `hyve` to a release build of this tree unless it is already set.
build_hyve() {
    if [ -z "${hyve:-}" ]; then
        log "building hyve (swift build -c release)"
        (cd "$root" && swift build -c release >&2) || fail "swift build failed"
        hyve="$(cd "$root" && swift build -c release --show-bin-path)/hyve"
    fi
    [ -x "$hyve" ] || fail "hyve binary not found or not executable: $hyve"
}

# ensure_packages CMD:PACKAGE...: installs the Debian package of each missing command.
ensure_packages() {
    local pair missing=() sudo_cmd=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q >&2 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}" >&2 \
        || fail "cannot install ${missing[*]}"
}

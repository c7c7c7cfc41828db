#!/usr/bin/env bash
# Builds Hyve's Linux test guest and puts bzImage, vmlinux (for PVH boot) and
# initramfs.cpio (uncompressed newc, busybox-static + guest/linux/init.c) in
# OUTDIR (default: .build/linux-guest in the repository).
#
#   scripts/build-linux-guest.sh [OUTDIR]
#
# The kernel is Debian's linux-source-6.1 configured with guest/linux/config
# and patched with guest/linux/patches/*.patch (see their headers for why).
# Results are cached under ${HYVE_CACHE:-/var/cache/hyve}/linux-KEY, KEY being
# a hash of everything that goes into them, so a second run, from any clone,
# only copies. Prints one summary line on success, one error line otherwise;
# the build's own output goes to build.log in the cache.
set -euo pipefail
# A caller's kbuild settings would send the build elsewhere or change it.
unset KBUILD_OUTPUT O CROSS_COMPILE LLVM KCFLAGS KCPPFLAGS LOCALVERSION

me=build-linux-guest
die() {
    echo "$me: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
guest=$repo/guest/linux
(($# <= 1)) || die "usage: $0 [OUTDIR]"
outdir=${1:-$repo/.build/linux-guest}
started=$SECONDS

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

packages=(linux-source-6.1 busybox-static gcc make libc6-dev binutils bc bison flex
          libelf-dev libssl-dev cpio xz-utils patch util-linux)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    apt_log=$(mktemp "${TMPDIR:-/tmp}/$me-apt.XXXXXX")
    { "${sudo_cmd[@]}" apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"; } \
        >"$apt_log" 2>&1 || die "installing ${missing[*]} failed (log: $apt_log)"
    rm -f "$apt_log"
fi

linux_version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
tarball=$(dpkg -L linux-source-6.1 | grep '/linux-source-6\.1\.tar\.xz$') ||
    die "linux-source-6.1 ships no linux-source-6.1.tar.xz"
busybox=$(dpkg -L busybox-static | grep '/bin/busybox$') ||
    die "busybox-static ships no bin/busybox"
patches=("$guest"/patches/*.patch)
[ -e "${patches[0]}" ] || die "no patches in $guest/patches"
for f in "$guest/config" "$guest/init.c"; do
    [ -r "$f" ] || die "missing $f"
done

key=$({
    cat "${BASH_SOURCE[0]}" "$guest/config" "$guest/init.c"
    for p in "${patches[@]}"; do
        echo "${p##*/}"
        cat "$p"
    done
    echo "linux-source-6.1 $linux_version busybox-static $busybox_version"
    echo "gcc $(gcc -dumpfullversion)"
} | sha256sum | cut -c1-16)

cache_root=${HYVE_CACHE:-/var/cache/hyve}
if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
    [ -n "${HYVE_CACHE:-}" ] && die "cannot write the cache directory $cache_root"
    cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/hyve
    mkdir -p "$cache_root" || die "cannot create the cache directory $cache_root"
fi
cache=$cache_root/linux-$key
outputs=(bzImage vmlinux initramfs.cpio)

build() {
    local partial=$cache.partial work log
    rm -rf "$partial"
    mkdir -p "$partial"
    log=$partial/build.log
    work=$(mktemp -d "${TMPDIR:-/tmp}/$me.XXXXXX")
    trap "rm -rf -- '$work'" EXIT

    step() {
        local what=$1
        shift
        echo "== $what" >>"$log"
        "$@" >>"$log" 2>&1 || die "$what failed (log: $cache.partial/build.log)"
    }

    step "unpack $tarball" tar -xf "$tarball" -C "$work" --strip-components=1
    for p in "${patches[@]}"; do
        step "apply ${p##*/}" patch -d "$work" -p1 --forward --batch -i "$p"
    done
    local kmake=(make -C "$work" ARCH=x86_64 KBUILD_BUILD_USER=hyve KBUILD_BUILD_HOST=hyve)
    step "configure" "${kmake[@]}" KCONFIG_ALLCONFIG="$guest/config" allnoconfig

    # allnoconfig silently drops what it cannot satisfy: every line of the
    # fragment must be in the final .config as written.
    local line name lost=()
    while IFS= read -r line; do
        case $line in
        CONFIG_*=*)
            grep -qxF -- "$line" "$work/.config" || lost+=("$line") ;;
        "# CONFIG_"*" is not set")
            name=${line#\# }
            name=${name%% *}
            ! grep -q "^$name=" "$work/.config" || lost+=("$line") ;;
        esac
    done <"$guest/config"
    ((${#lost[@]} == 0)) ||
        die "guest/linux/config: not in the kernel's .config: ${lost[*]}"

    step "build init" gcc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
        -O2 -fno-asynchronous-unwind-tables -Wall -Wextra -Werror -Wl,--build-id=none \
        -o "$work/hyve-init" "$guest/init.c"
    step "build gen_init_cpio" gcc -O2 -o "$work/gen_init_cpio" "$work/usr/gen_init_cpio.c"
    {
        echo "dir /dev 0755 0 0"
        echo "nod /dev/console 0600 0 0 c 5 1"
        echo "nod /dev/port 0600 0 0 c 1 4"
        for d in /proc /sys /bin /sbin /usr /usr/bin /usr/sbin /root /etc /mnt; do
            echo "dir $d 0755 0 0"
        done
        echo "dir /tmp 1777 0 0"
        echo "file /init $work/hyve-init 0755 0 0"
        echo "file /bin/busybox $busybox 0755 0 0"
        "$busybox" --list-full | grep -vx 'bin/busybox' | sed 's|.*|slink /& /bin/busybox 0777 0 0|'
    } >"$work/initramfs.list"
    step "build the initramfs" sh -c '"$1" "$2" >"$3"' - "$work/gen_init_cpio" \
        "$work/initramfs.list" "$partial/initramfs.cpio"

    step "build the kernel" "${kmake[@]}" -j"$(nproc)" bzImage
    cp "$work/arch/x86/boot/bzImage" "$work/vmlinux" "$partial/"
    cp "$work/.config" "$partial/config"

    echo "== built in $((SECONDS - started)) s" >>"$log"
    chmod a-w "${outputs[@]/#/$partial/}"
    mv "$partial" "$cache"
}

exec 9>"$cache.lock"
flock 9
how=cached
if [ ! -d "$cache" ]; then
    build
    how="built in $((SECONDS - started)) s"
fi
exec 9>&-

mkdir -p "$outdir" || die "cannot create $outdir"
for f in "${outputs[@]}"; do
    [ "$cache/$f" -ef "$outdir/$f" ] && continue
    ln -f "$cache/$f" "$outdir/.$f.new" 2>/dev/null || cp -f "$cache/$f" "$outdir/.$f.new" ||
        die "cannot write $outdir/$f"
    mv -f "$outdir/.$f.new" "$outdir/$f"
done
echo "$me: Linux $linux_version guest in $outdir ($how; cache $cache)"

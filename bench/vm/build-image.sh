#!/usr/bin/env bash
# Builds a small bootable Linux disk image for the evaluation (issue 5), offline from Debian's
# packages, and caches it keyed by this script's content and options:
#
#   bench/vm/build-image.sh [--cache DIR] [--rootfs auto|debootstrap|busybox] [--size 1G] [--packages LIST]
#                           [--no-verify] [--force]
#
# --packages: extra Debian packages, comma-separated, for debootstrap's --include (debootstrap
# root file systems only): two images from one base with different package sets share most pages.
#
# Prints the directory of the result on stdout (progress goes to stderr). It holds:
#   disk.raw     a bare ext4 file system (no partition table, no boot loader), sparse
#   vmlinuz      Debian's kernel (linux-image-amd64)
#   initrd.img   a busybox initrd that loads virtio_blk and ext4 and switches to /dev/vda
#   cmdline      the kernel command line
#   info         what was built, from what, and how long it took
#
# Boot it with bench/vm/boot-vm.sh DIR, or by hand:
#   qemu-system-x86_64 -accel tcg -machine q35 -cpu qemu64 -m 512 -nographic -no-reboot \
#     -kernel DIR/vmlinuz -initrd DIR/initrd.img -append "$(cat DIR/cmdline)" \
#     -drive file=DIR/disk.raw,format=raw,if=virtio,snapshot=on
# The guest prints "BLOBSEER-BOOT-DONE" on the serial console when its boot is over and powers off.
#
# Root file system: debootstrap (minbase + systemd + udev) from the Debian mirror of apt's
# sources when it answers, else busybox-static with the kernel's modules. No loop mounts: the
# file system is made with `mkfs.ext4 -d`.
set -euo pipefail

script="$(readlink -f "${BASH_SOURCE[0]}")"
here="$(dirname "$script")"
cache="${BLOBSEER_VM_CACHE:-$HOME/.cache/blobseer/vm}"
rootfs_kind=auto
size=1G
packages=
verify=1
force=0
marker=BLOBSEER-BOOT-DONE

usage() { sed -n '2,25p' "$script" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) cache="$2"; shift ;;
        --rootfs) rootfs_kind="$2"; shift ;;
        --size) size="$2"; shift ;;
        --packages) packages="$2"; shift ;;
        --no-verify) verify=0 ;;
        --force) force=1 ;;
        -h|--help) usage 0 ;;
        *) echo "build-image: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case "$rootfs_kind" in auto|debootstrap|busybox) ;; *) echo "build-image: --rootfs is auto, debootstrap or busybox" >&2; exit 2 ;; esac
case "$packages" in *[!a-z0-9.+,-]*) echo "build-image: --packages is a comma-separated list of Debian package names" >&2; exit 2 ;; esac

log() { echo "build-image: $*" >&2; }
die() { log "$*"; exit 1; }

# The cache key covers everything that decides the result: this script and its options.
key="$( { cat "$script"; echo "$rootfs_kind $size"; [ -z "$packages" ] || echo "packages $packages"; } | sha256sum | cut -c1-16)"
out="$cache/$key"
cached() {
    if [ "$force" = 0 ] && [ -f "$out/info" ]; then
        log "cached: $out"
        echo "$out"
        exit 0
    fi
}
cached
mkdir -p "$cache"
# One build per key at a time: a second caller waits, then finds the result cached.
exec 9>"$cache/.lock-$key"
flock 9
cached

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, device nodes in the root file system)"
need=()
tools=(mkfs.ext4:e2fsprogs cpio:cpio depmod:kmod debootstrap:debootstrap curl:curl)
# QEMU only boots the result to verify it.
[ "$verify" = 0 ] || tools+=(qemu-system-x86_64:qemu-system-x86)
for tool in "${tools[@]}"; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
        || die "could not install ${need[*]}"
fi
busybox=/bin/busybox

started=$(date +%s.%N)
work="$(mktemp -d "$cache/.build-$key.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"

# The kernel: linux-image-amd64 is a metapackage; the kernel is in the package it depends on.
kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[ -n "$kpkg" ] || die "apt knows no linux-image-amd64 (is apt's package list there? apt-get update)"
log "kernel package $kpkg"
apt-get download -o APT::Sandbox::User=root "$kpkg" >/dev/null 2>&1 || die "apt-get download $kpkg failed"
mkdir kernel
dpkg-deb -x ./"$kpkg"_*.deb kernel
kver="$(ls kernel/lib/modules)"
# The modules a small virtual machine never loads: sound, graphics, cameras, radios, InfiniBand.
for d in sound drivers/gpu drivers/media drivers/infiniband drivers/net/wireless drivers/staging drivers/iio \
    net/bluetooth net/mac80211 net/wireless drivers/bluetooth; do
    rm -rf "kernel/lib/modules/$kver/kernel/$d"
done
depmod -b kernel "$kver"

# The initrd: busybox, the modules that reach an ext4 file system on virtio, and an /init.
mkdir -p initrd/bin initrd/lib/modules initrd/dev initrd/proc initrd/sys initrd/newroot
cp "$busybox" initrd/bin/busybox
: > initrd/modules.list
for m in virtio_pci virtio_blk ext4; do
    modprobe -d kernel -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}' | while read -r ko; do
        base="$(basename "$ko")"
        grep -qx "$base" initrd/modules.list || { cp "$ko" initrd/lib/modules/; echo "$base" >> initrd/modules.list; }
    done
done
cat > initrd/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# crc32c-intel needs SSE4.2, which a qemu64 CPU lacks: crc32c_generic serves then.
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /modules.list
root=/dev/vda
for arg in $(cat /proc/cmdline); do case "$arg" in root=*) root="${arg#root=}" ;; esac; done
i=0
while [ ! -b "$root" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o ro "$root" /newroot; then
    echo "initrd: cannot mount $root"; poweroff -f
fi
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /sbin/init
EOF
chmod 755 initrd/init
(cd initrd && find . | cpio -o -H newc --quiet | gzip -9) > initrd.img

# The root file system.
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
mirror="$(apt-cache policy | awk -v s="$suite/main" '$3 == s && $2 ~ /^https?:/ {print $2; exit}')"
if [ "$rootfs_kind" = auto ]; then
    rootfs_kind=busybox
    if [ -n "$mirror" ] && curl -fsS --max-time 10 -o /dev/null "$mirror/dists/$suite/Release"; then
        rootfs_kind=debootstrap
    else
        log "no Debian mirror answers through apt's sources (${mirror:-none}): busybox root file system"
    fi
fi
mkdir rootfs
if [ "$rootfs_kind" = debootstrap ]; then
    [ -n "$mirror" ] || die "no Debian mirror for $suite in apt's sources"
    log "debootstrap $suite from $mirror"
    debootstrap --variant=minbase --include="systemd-sysv,udev,kmod${packages:+,$packages}" "$suite" rootfs "$mirror" > debootstrap.log 2>&1 \
        || { tail -20 debootstrap.log >&2; die "debootstrap failed"; }
    rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
    # Boot straight to multi-user; the unit below prints the marker once it is reached and powers off.
    ln -sf /lib/systemd/system/multi-user.target rootfs/etc/systemd/system/default.target
    cat > rootfs/usr/local/sbin/boot-done <<EOF
#!/bin/sh
echo "$marker uptime=\$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
sync
systemctl --force --force poweroff
EOF
    chmod 755 rootfs/usr/local/sbin/boot-done
    cat > rootfs/etc/systemd/system/boot-done.service <<'EOF'
[Unit]
Description=Report the end of the boot on the serial console, then power off
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/boot-done

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p rootfs/etc/systemd/system/multi-user.target.wants
    ln -sf /etc/systemd/system/boot-done.service rootfs/etc/systemd/system/multi-user.target.wants/boot-done.service
    # The same identity at every boot, so that every boot of the image does the same work.
    echo 0123456789abcdef0123456789abcdef > rootfs/etc/machine-id
else
    [ -z "$packages" ] || die "--packages needs a debootstrap root file system"
    log "busybox root file system"
    mkdir -p rootfs/{bin,sbin,etc,proc,sys,dev,tmp,run,root,var/log,usr/local/sbin}
    cp "$busybox" rootfs/bin/busybox
    for applet in $("$busybox" --list); do
        [ -e "rootfs/bin/$applet" ] || ln -s busybox "rootfs/bin/$applet"
    done
    cat > rootfs/sbin/init <<EOF
#!/bin/sh
# A small boot: the file systems, the modules of the devices found, a look around, a log written.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -o remount,rw /
hostname blobseer-vm
for alias in \$(cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u); do modprobe -q "\$alias" 2>/dev/null; done
find / -xdev > /dev/null 2>&1
dmesg > /var/log/boot.log
lsmod >> /var/log/boot.log
echo "$marker uptime=\$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
sync
poweroff -f
EOF
    chmod 755 rootfs/sbin/init
fi
echo blobseer-vm > rootfs/etc/hostname
echo "/dev/vda / ext4 rw,relatime,errors=remount-ro 0 0" > rootfs/etc/fstab
mkdir -p rootfs/lib/modules
cp -a "kernel/lib/modules/$kver" rootfs/lib/modules/
mkdir -p rootfs/boot
cp "kernel/boot/config-$kver" rootfs/boot/

log "mkfs.ext4 -d ($(du -sh rootfs | cut -f1) of files, $size image)"
# Inode tables zeroed now: else the guest's kernel zeroes them in the background at its first
# mount (ext4lazyinit), megabytes of writes that no later boot repeats.
mkfs.ext4 -q -F -L blobseer-vm -E lazy_itable_init=0,lazy_journal_init=0 -d rootfs disk.raw "$size" >/dev/null

mkdir -p "$out.tmp"
rm -rf "${out:?}.tmp"/*
mv disk.raw initrd.img "$out.tmp"/
cp "kernel/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
echo "root=/dev/vda console=ttyS0 quiet panic=1" > "$out.tmp/cmdline"

if [ "$verify" = 1 ]; then
    log "verifying: booting it under QEMU (TCG)"
    "$here/boot-vm.sh" "$out.tmp" --drive "file=$out.tmp/disk.raw,format=raw,if=virtio,snapshot=on" --log "$work/verify.log" >&2 \
        || { tail -30 "$work/verify.log" >&2; die "the image did not boot"; }
fi

seconds="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
cat > "$out.tmp/info" <<EOF
key=$key
rootfs=$rootfs_kind
suite=$suite
mirror=${mirror:-none}
kernel_package=$kpkg
kernel=$kver
size=$size
packages=${packages:-none}
virtual_bytes=$(stat -c %s "$out.tmp/disk.raw")
allocated_bytes=$(($(du -B1 -s "$out.tmp/disk.raw" | cut -f1)))
marker=$marker
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$seconds
EOF
rm -rf "$out"
mv "$out.tmp" "$out"
log "built $out in ${seconds}s"
echo "$out"

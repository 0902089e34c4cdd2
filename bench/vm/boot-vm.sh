#!/usr/bin/env bash
# Boots an image built by build-image.sh under QEMU with software emulation (TCG: KVM does not
# work on these machines, see ../shared/notes/real-vm-boots.md) and waits for its boot marker:
#
#   bench/vm/boot-vm.sh DIR [--drive QEMU-DRIVE-SPEC] [--log FILE] [--timeout SECONDS] [--memory MIB]
#
# DIR holds vmlinuz, initrd.img and cmdline. The drive defaults to DIR/disk.raw with snapshot=on
# (writes discarded); give e.g. --drive file=nbd://127.0.0.1:10809/NAME,format=raw,if=virtio to
# boot from a BlobSeer NBD export. Prints one line on stdout:
#   boot_seconds=12.3 guest_uptime=10.1 exit_seconds=12.9
# (wall time from QEMU's start to the marker on the serial console; the guest's own uptime at the
# marker; wall time until QEMU exited after the guest powered off). Exit 1 if the marker did not
# appear before the timeout (QEMU is killed then) or QEMU failed.
set -euo pipefail

[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dir="$1"; shift
drive="file=$dir/disk.raw,format=raw,if=virtio,snapshot=on"
log=""
timeout=300
memory=512
while [ $# -gt 0 ]; do
    case "$1" in
        --drive) drive="$2"; shift ;;
        --log) log="$2"; shift ;;
        --timeout) timeout="$2"; shift ;;
        --memory) memory="$2"; shift ;;
        *) echo "boot-vm: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
for f in vmlinuz initrd.img cmdline; do
    [ -f "$dir/$f" ] || { echo "boot-vm: $dir/$f is missing (build it with bench/vm/build-image.sh)" >&2; exit 2; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "boot-vm: needs qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2; exit 2; }
marker="$(sed -n "s/^marker=//p" "$dir/info" 2>/dev/null || true)"
marker="${marker:-BLOBSEER-BOOT-DONE}"
[ -n "$log" ] || log="$(mktemp)"
: > "$log"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

started=$(now)
qemu-system-x86_64 -accel tcg -machine q35 -cpu qemu64 -m "$memory" -smp 1 \
    -nographic -no-reboot -nodefaults -serial stdio -monitor none \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "$(cat "$dir/cmdline")" \
    -drive "$drive" < /dev/null > "$log" 2>&1 &
qemu=$!
trap 'kill "$qemu" 2>/dev/null || true' EXIT

boot=""
deadline=$(( $(date +%s) + timeout ))
while kill -0 "$qemu" 2>/dev/null; do
    if [ -z "$boot" ] && grep -qa "$marker" "$log"; then
        boot="$(since "$started")"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "boot-vm: no boot marker after ${timeout}s; last console lines:" >&2
        tail -15 "$log" >&2
        exit 1
    fi
    sleep 0.1
done
rc=0
wait "$qemu" || rc=$?
trap - EXIT
exited="$(since "$started")"
if ! grep -qa "$marker" "$log"; then
    echo "boot-vm: QEMU exited ($rc) without the boot marker; last console lines:" >&2
    tail -15 "$log" >&2
    exit 1
fi
[ -n "$boot" ] || boot="$exited"
uptime="$(grep -a -o "$marker uptime=[0-9.]*" "$log" | head -1 | sed 's/.*uptime=//')"
echo "boot_seconds=$boot guest_uptime=${uptime:-?} exit_seconds=$exited"

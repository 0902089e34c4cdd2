#!/usr/bin/env bash
# Records the access trace of a real boot through BlobSeer (issue 5): builds (or finds cached)
# the image of build-image.sh, starts a cluster of its own on loopback, imports the image, serves
# it with `blobseer nbd --trace`, boots it under QEMU (TCG) from that export with the guest's
# writes going to the mirror, waits for the boot marker, stops everything and keeps the trace:
#
#   bench/vm/record-trace.sh [--name NAME] [--out DIR] [--rootfs auto|debootstrap|busybox] [--image-dir DIR] [--timeout S]
#
# The trace goes to DIR/NAME.trace (default bench/traces/, NAME debian12-systemd for a debootstrap
# image, busybox for the other), gzipped to NAME.trace.gz when it is over 1 MB. Prints the boot's
# duration and how much of the image it read and wrote. Needs root (for debootstrap), qemu.
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name=""
out="$root/bench/traces"
rootfs=auto
image_dir=""
timeout=600
while [ $# -gt 0 ]; do
    case "$1" in
        --name) name="$2"; shift ;;
        --out) out="$2"; shift ;;
        --rootfs) rootfs="$2"; shift ;;
        --image-dir) image_dir="$2"; shift ;;
        --timeout) timeout="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "record-trace: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
log() { echo "record-trace: $*" >&2; }
die() { log "$*"; exit 1; }

[ -n "$image_dir" ] || image_dir="$("$here/build-image.sh" --rootfs "$rootfs")"
[ -f "$image_dir/disk.raw" ] || die "$image_dir/disk.raw is missing"
kind="$(sed -n 's/^rootfs=//p' "$image_dir/info" 2>/dev/null || true)"
[ -n "$name" ] || { [ "$kind" = busybox ] && name=busybox || name=debian12-systemd; }
blobseer="$root/blobseer"
"$blobseer" --help > /dev/null # builds the CLI now rather than inside a timed step

work="$(mktemp -d /tmp/blobseer-record.XXXXXX)"
cluster_pid=""
nbd_pid=""
stop() {
    local pid="$1"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    stop "$nbd_pid"
    stop "$cluster_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N consecutive ports on loopback that nobody listens on.
free_ports() {
    local n="$1" base p busy
    for _ in $(seq 50); do
        base=$((20000 + RANDOM % 30000))
        busy=0
        for p in $(seq "$base" $((base + n - 1))); do
            ss -Hltn "sport = :$p" | grep -q . && { busy=1; break; }
        done
        [ "$busy" = 0 ] && { echo "$base"; return 0; }
    done
    return 1
}
# Waits for a line starting with "endpoint " in FILE written by PID.
wait_endpoint() {
    local file="$1" pid="$2" what="$3"
    for _ in $(seq 600); do
        grep -q '^endpoint ' "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$work"/*.err >&2 || true; die "$what exited before it was ready"; }
        sleep 0.1
    done
    die "$what was not ready after 60 s"
}

port="$(free_ports 8)" || die "no 8 free consecutive ports on loopback"
"$blobseer" up --host 127.0.0.1 --port "$port" --data "$work/cluster" > "$work/up.out" 2> "$work/up.err" &
cluster_pid=$!
wait_endpoint "$work/up.out" "$cluster_pid" "blobseer up"
export BLOBSEER_CLUSTER="127.0.0.1:$port"
image="boot-$(date +%s)"
log "importing $image_dir/disk.raw as $image"
"$blobseer" image import "$image_dir/disk.raw" --name "$image" > /dev/null

nbd_port="$(free_ports 1)" || die "no free port on loopback"
trace="$work/$name.trace"
"$blobseer" nbd --listen "127.0.0.1:$nbd_port" --cache "$work/mirror" --no-prefetch --trace "$trace" "$image" \
    > "$work/nbd.out" 2> "$work/nbd.err" &
nbd_pid=$!
wait_endpoint "$work/nbd.out" "$nbd_pid" "blobseer nbd"

log "booting from nbd://127.0.0.1:$nbd_port/$image (TCG; guest writes go to the mirror)"
boot="$("$here/boot-vm.sh" "$image_dir" --timeout "$timeout" --log "$work/console.log" \
    --drive "file=nbd://127.0.0.1:$nbd_port/$image,format=raw,if=virtio")" \
    || { tail -20 "$work/console.log" >&2; die "the boot did not finish"; }
status="$("$blobseer" mirror status --json "$work/mirror" 2>/dev/null || true)"
stop "$nbd_pid"; nbd_pid=""
stop "$cluster_pid"; cluster_pid=""
[ -s "$trace" ] || die "no trace was written"

# Who recorded what, for whoever reads the trace later (# lines are comments to the parser).
boot_seconds="$(sed 's/.*boot_seconds=\([0-9.]*\).*/\1/' <<< "$boot")"
guest_uptime="$(sed 's/.*guest_uptime=\([0-9.?]*\).*/\1/' <<< "$boot")"
{
    head -2 "$trace"
    echo "# recorded $(date -u +%Y-%m-%dT%H:%M:%SZ) by bench/vm/record-trace.sh: qemu-system-x86_64 TCG q35 qemu64 512MiB, virtio-blk over NBD, snapshot=off"
    echo "# build $(sed -n 's/^key=//p' "$image_dir/info") rootfs $(sed -n 's/^rootfs=//p' "$image_dir/info") kernel $(sed -n 's/^kernel=//p' "$image_dir/info") boot_seconds $boot_seconds guest_uptime $guest_uptime"
    tail -n +3 "$trace"
} > "$trace.final"

mkdir -p "$out"
rm -f "$out/$name.trace" "$out/$name.trace.gz"
if [ "$(stat -c %s "$trace.final")" -gt 1000000 ]; then
    gzip -9 -n -c "$trace.final" > "$out/$name.trace.gz"
    result="$out/$name.trace.gz"
else
    cp "$trace.final" "$out/$name.trace"
    result="$out/$name.trace"
fi

# The numbers: operations, bytes, distinct bytes (overlapping ranges merged), share of the image.
summary() {
    local kind="$1"
    grep -v '^#' "$trace.final" | awk -v k="$kind" '$2 ~ k { print $3, $3 + $4 }' | sort -n | awk '
        NR == 1 { start = $1; end = $2; next }
        $1 > end { total += end - start; start = $1; end = $2; next }
        $2 > end { end = $2 }
        END { if (NR) total += end - start; print total + 0 }'
}
size="$(sed -n '2s/.* size \([0-9]*\) .*/\1/p' "$trace.final")"
read_ops="$(grep -v '^#' "$trace.final" | awk '$2 == "R"' | wc -l)"
write_ops="$(grep -v '^#' "$trace.final" | awk '$2 == "W" || $2 == "Z"' | wc -l)"
read_bytes="$(grep -v '^#' "$trace.final" | awk '$2 == "R" { s += $4 } END { print s + 0 }')"
write_bytes="$(grep -v '^#' "$trace.final" | awk '$2 == "W" || $2 == "Z" { s += $4 } END { print s + 0 }')"
distinct_read="$(summary '^R$')"
distinct_written="$(summary '^(W|Z)$')"
span="$(grep -v '^#' "$trace.final" | tail -1 | awk '{ printf "%.1f", $1 / 1e6 }')"
awk -v r="$result" -v boot="$boot_seconds" -v up="$guest_uptime" -v span="$span" -v size="$size" \
    -v ro="$read_ops" -v wo="$write_ops" -v rb="$read_bytes" -v wb="$write_bytes" -v dr="$distinct_read" -v dw="$distinct_written" 'BEGIN {
    printf "trace        %s\n", r
    printf "boot         %s s to the boot marker (guest uptime %s s); first to last operation %s s\n", boot, up, span
    printf "reads        %d operations, %.1f MiB, %.1f MiB distinct = %.2f%% of the %.0f MiB image\n", ro, rb / 1048576, dr / 1048576, 100 * dr / size, size / 1048576
    printf "writes       %d operations, %.1f MiB, %.1f MiB distinct\n", wo, wb / 1048576, dw / 1048576
}'
fetched="$(grep -o '"fetchedBytes": *[0-9]*' <<< "$status" | grep -o '[0-9]*$' || true)"
chunk="$(sed -n '2s/.* chunk \([0-9]*\) .*/\1/p' "$trace.final")"
[ -z "$fetched" ] || awk -v f="$fetched" -v c="$chunk" 'BEGIN {
    printf "fetched      %.1f MiB from the store (whole chunks of %d KiB)\n", f / 1048576, c / 1024 }'

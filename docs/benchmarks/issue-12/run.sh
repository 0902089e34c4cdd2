#!/usr/bin/env bash
# Issue 12 measurements (OLD=3764b9c/blobseer NEW=ebc4415/blobseer OUT=dir ROUNDS="1 2 3 4"): the build before the session (old) against the build with limits and TLS
# (new), and new with --tls, alternating, in one sitting. bench io with 8 MiB pages (the page
# budget's worst case) and the default 256 KiB pages.
set -euo pipefail
old=${OLD:?path to the old build's blobseer} new=${NEW:-./blobseer} out=${OUT:-.}
for round in ${ROUNDS:-1 2}; do
  for variant in old new new-tls; do
    case $variant in
      old) bin=$old; extra=() ;;
      new) bin=$new; extra=() ;;
      new-tls) bin=$new; extra=(--tls) ;;
    esac
    for ps in 8MiB 256KiB; do
      echo "round $round $variant page $ps" >&2
      timeout 900 "$bin" bench io --size 512MiB --clients 1,4 --page-size $ps --json "${extra[@]}" > "$out/$variant-$ps-$round.json" 2> "$out/$variant-$ps-$round.log" || echo "FAILED $variant $ps $round" >&2
    done
  done
done

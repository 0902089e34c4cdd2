#!/usr/bin/env bash
# Old and new build in one sitting, alternating, as measured for decision 0009:
#   OLD=/path/to/old/checkout/blobseer NEW=./blobseer OUT=results docs/benchmarks/grpc-0009/run.sh
# The old checkout is 3fb0bdf with old-build-bench-io-flags.patch applied (bench io's --write-size
# and --read-size only; no product code). Takes about 12 minutes on 2 cores.
set -u
old=${OLD:?path of the old build's blobseer launcher}; new=${NEW:-./blobseer}; out=${OUT:-results}
mkdir -p "$out"
for rep in 1 2; do for b in old new; do cmd=${!b}; $cmd bench io --json > "$out/io-$b-$rep.json" 2> "$out/io-$b-$rep.log"; done; done
for rep in 1 2; do for b in old new; do cmd=${!b}; $cmd bench mirror --json > "$out/mirror-$b-$rep.json" 2> "$out/mirror-$b-$rep.log"; done; done
for rep in 1 2 3; do for b in old new; do cmd=${!b}
  $cmd bench io --page-size 4KiB --write-size 4KiB --read-size 4KiB --size 48MiB --clients 8 --json > "$out/meta-$b-$rep.json" 2> "$out/meta-$b-$rep.log"
done; done

#!/usr/bin/env bash
# Our signing throughput next to `openssl speed` on the same machine, in the same run.
#   benches/compare-openssl.sh            (about a minute; needs the openssl CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-3}
echo "== openssl speed ($(openssl version))"
openssl speed -seconds "$secs" rsa2048 ecdsap256 2>/dev/null | grep -E '^(rsa 2048| *256 bits ecdsa)' | sed 's/^/   /'
echo "== psd2-sign (criterion, aws-lc-rs)"
cargo bench --quiet --bench sign -- --warm-up-time 1 --measurement-time "$secs" 2>/dev/null |
  grep -E '^(file-key|berlin-group)/|thrpt:' | paste - - | sed -E 's/ +/ /g; s/^/   /'

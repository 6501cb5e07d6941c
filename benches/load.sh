#!/usr/bin/env bash
# The embedded sandbox alone under 64 concurrent mTLS clients x 10,000 account-list calls each
# (kept-alive connections, one per client): 0 errors required; prints req/s and p50/p99.
#   benches/load.sh                                   (release build; a few minutes on 2 cores)
#   LOAD_CLIENTS=64 LOAD_REQUESTS=2000 benches/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --quiet --bench sandbox_load

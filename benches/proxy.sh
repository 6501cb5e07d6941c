#!/usr/bin/env bash
# Sealed PIS initiations through `psd2-sign proxy` to the embedded sandbox, against the in-process
# psd2_client::Client and a curl-per-request loop, 1-16 callers, in the same run; the latency the
# proxy adds and its memory with 1,000 idle caller connections. Needs curl. See benches/proxy_load.rs.
#   benches/proxy.sh                                  (release build; about a minute on 2 cores)
#   PROXY_REQUESTS=5000 CURL_REQUESTS=200 IDLE_CONNECTIONS=1000 benches/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # 1,000 caller connections, and the proxy's side of them
cargo bench --quiet --bench proxy_load

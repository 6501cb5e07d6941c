#!/usr/bin/env bash
# Start-up cost of one `psd2-sign sign` process next to the openssl + shell recipe that makes the
# same Berlin Group request headers (Digest, Date, X-Request-ID, TPP-Signature-Certificate,
# Signature with keyId SN=…,CA=…), both measured in the same run, N processes each.
#   benches/startup.sh                 (N=200; needs the openssl CLI; builds the release binary)
#   N=500 BIN=/path/to/psd2-sign benches/startup.sh
# Prints the median wall time and the mean CPU time (user + system, children) per request.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
n=${N:-200}
if [ -z "${BIN:-}" ]; then
  cargo build --quiet --release --locked
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/psd2-sign
fi
key=test-certs/rsa/qseal.key
cert=test-certs/rsa/qseal.pem
url=https://api.bank.example/v1/payments/sepa-credit-transfers
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s' '{"instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorAccount":{"iban":"BE68539007547034"},"creditorName":"Example Merchant"}' >"$work/body.json"

ours() {
  "$BIN" sign --profile berlin-group --key "$key" --cert "$cert" --method POST --url "$url" \
    --body "$work/body.json" --format headers >"$work/ours.txt"
}

# The recipe a TPP engineer would otherwise write: one openssl call per step.
recipe() {
  local digest date id sn ca cert_b64 sig
  digest="SHA-256=$(openssl dgst -sha256 -binary "$work/body.json" | base64 -w0)"
  date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
  id=$(cat /proc/sys/kernel/random/uuid)
  sn=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
  ca=$(openssl x509 -in "$cert" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//; s/ /%20/g')
  cert_b64=$(openssl x509 -in "$cert" -outform DER | base64 -w0)
  printf 'digest: %s\nx-request-id: %s' "$digest" "$id" >"$work/signing-string"
  sig=$(openssl dgst -sha256 -sign "$key" "$work/signing-string" | base64 -w0)
  {
    echo "Digest: $digest"
    echo "Date: $date"
    echo "X-Request-ID: $id"
    echo "TPP-Signature-Certificate: $cert_b64"
    echo "Signature: keyId=\"SN=$sn,CA=$ca\",algorithm=\"rsa-sha256\",headers=\"digest x-request-id\",signature=\"$sig\""
  } >"$work/recipe.txt"
}

# The recipe's headers must pass our verifier, so that both sides do the same work.
recipe
verify_args=()
while IFS= read -r line; do verify_args+=(-H "$line"); done <"$work/recipe.txt"
"$BIN" verify --profile berlin-group --method POST --url "$url" --body "$work/body.json" --cert "$cert" \
  "${verify_args[@]}" >/dev/null

# Runs "$1" N times; prints "median-wall-ms mean-cpu-ms". Nothing else is forked inside the loop,
# so the children's CPU time is the function's alone.
measure() {
  local f=$1 i starts=() ends=()
  times >"$work/times0"
  for ((i = 0; i < n; i++)); do
    starts+=("$EPOCHREALTIME")
    "$f"
    ends+=("$EPOCHREALTIME")
  done
  times >"$work/times1"
  local cpu
  cpu=$(($(children_cpu_us "$work/times1") - $(children_cpu_us "$work/times0")))
  for ((i = 0; i < n; i++)); do echo "${starts[i]} ${ends[i]}"; done |
    awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' | sort -n |
    awk -v n="$n" -v cpu="$cpu" '{ w[NR] = $1 } END { printf "%.2f %.2f\n", w[int((n + 1) / 2)], cpu / n / 1000 }'
}

# User + system CPU of the waited-for children, in microseconds, from the output of bash `times`
# (run as a builtin in the measuring shell itself: a subshell would report its own children).
children_cpu_us() {
  tail -n1 "$1" | awk '{
    s = 0
    for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] }
    printf "%d", s * 1000000
  }'
}

ours # warm the page cache
read -r our_wall our_cpu < <(measure ours)
read -r ssl_wall ssl_cpu < <(measure recipe)
echo "== start-up: one Berlin Group seal of a PIS request, $n processes each ($(nproc) cores)"
printf '   %-34s median wall %7s ms   CPU %7s ms\n' "psd2-sign sign" "$our_wall" "$our_cpu"
printf '   %-34s median wall %7s ms   CPU %7s ms\n' "openssl + shell ($(openssl version | cut -d' ' -f2))" "$ssl_wall" "$ssl_cpu"
awk -v a="$our_wall" -v b="$ssl_wall" 'BEGIN { printf "   psd2-sign / recipe (wall): %.3f\n", a / b }'

#!/usr/bin/env bash
# Regenerates the committed TEST PKI in test-certs/ (see README.md). NOT FOR PRODUCTION.
# Usage: test-certs/regenerate.sh            (from anywhere; needs cargo and openssl)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
cargo build --quiet --bin psd2-sign
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/psd2-sign"
password="$(head -n1 "$here/password.txt")"

tpp=(--org "Example TPP NV" --org-id PSDBE-NBB-0999.888.777 --roles PSP_AS,PSP_PI,PSP_AI,PSP_IC
     --nca-name "National Bank of Belgium" --nca-id BE-NBB)

for set in rsa ec; do
  case "$set" in rsa) key_type=rsa2048 ;; ec) key_type=p256 ;; esac
  dir="$here/$set"
  rm -rf "$dir"
  # The CA directory is the set's directory: ca.pem (trust anchor), qwac-ca.*, qseal-ca.*, crl/, db/.
  "$bin" ca init --dir "$dir" --key-type "$key_type" --days 7300
  # Long-lived on purpose so that tests never expire: beyond the CA/Browser Forum maximum for the
  # QWAC (the command warns about it). Conformance tests issue fresh certificates with the defaults.
  "$bin" ca issue --dir "$dir" --type qwac "${tpp[@]}" --domain tpp.example.com --locality Brussels \
    --days 3650 --out "$dir/qwac"
  "$bin" ca issue --dir "$dir" --type qseal "${tpp[@]}" --days 3650 --out "$dir/qseal"
  for kind in qwac qseal; do
    # OpenSSL 3 default PKCS#12: AES-256-CBC, PBKDF2; the key, the leaf and the issuing CA.
    openssl pkcs12 -export -inkey "$dir/$kind.key" -in "$dir/$kind-chain.pem" -name "$kind" \
      -passout "pass:$password" -out "$dir/$kind.p12"
  done
  openssl verify -CAfile "$dir/ca.pem" -untrusted "$dir/qwac-chain.pem" "$dir/qwac.pem"
  openssl verify -CAfile "$dir/ca.pem" -untrusted "$dir/qseal-chain.pem" "$dir/qseal.pem"
done
echo "test PKI regenerated in $here/rsa and $here/ec"

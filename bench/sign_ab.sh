#!/usr/bin/env bash
# Interleaved A/B of two kmsd binaries on Sign (ECC_NIST_P256, RSA_2048), GenerateMac (HMAC_256)
# and GenerateDataKey: for each round and binary, a fresh kmsd with 10 keys of each spec, one
# kms_load run per operation, and kmsd's CPU time per request (user + system, from /proc), the
# figure that other load on a shared machine moves least. docs/BENCHMARKS.md, "Signing and MAC".
#
# Usage: bench/sign_ab.sh KMS_LOAD KMSD_A KMSD_B [ROUNDS]   (environment: SECONDS_PER_RUN=5,
#        CONNECTIONS=64, DATA_ROOT=/var/tmp (/dev/shm takes the disk out), KMSD_ARGS, NICE=0
#        (e.g. -10 as root: kmsd and kms_load ahead of the machine's other work))
set -euo pipefail
load=${1:?usage: bench/sign_ab.sh KMS_LOAD KMSD_A KMSD_B [ROUNDS]}
binaries=("${2:?}" "${3:?}")
rounds=${4:-2}
seconds=${SECONDS_PER_RUN:-5}
connections=${CONNECTIONS:-64}
export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
server="" work=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null || true
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

echo "| round | kmsd | operation | key spec | requests/s | p50 ms | p99 ms | kmsd CPU µs/request | load average |"
echo "|--:|---|---|---|--:|--:|--:|--:|---|"
for round in $(seq "$rounds"); do
  for binary in "${binaries[@]}"; do
    work=$(mktemp -d "${DATA_ROOT:-/var/tmp}/kmsd-sign-ab.XXXXXX")
    # shellcheck disable=SC2086
    KMSD_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KMSD_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
      nice -n "${NICE:-0}" "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
      ${KMSD_ARGS:-} > "$work/log" 2>&1 &
    server=$!
    for _ in $(seq 600); do grep -qs "listening on" "$work/log" && break; sleep 0.01; done
    endpoint=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
    [ -n "$endpoint" ] || { cat "$work/log" >&2; exit 1; }
    until curl -s -o /dev/null "$endpoint"; do sleep 0.01; done
    for case in "GenerateDataKey SYMMETRIC_DEFAULT -" "Sign ECC_NIST_P256 ECDSA_SHA_256" \
                "Sign RSA_2048 RSASSA_PKCS1_V1_5_SHA_256" "GenerateMac HMAC_256 HMAC_SHA_256"; do
      read -r op spec algorithm <<< "$case"
      spec_flags=() algorithm_flags=()
      [ "$spec" = SYMMETRIC_DEFAULT ] || spec_flags=(--key-spec "$spec")
      [ "$algorithm" = - ] || algorithm_flags=(--algorithm "$algorithm")
      "$load" create-keys --endpoint "$endpoint" --count 10 "${spec_flags[@]}" \
        --out "$work/keys-$spec" > /dev/null
      before=$(awk '{ print $14 + $15 }' "/proc/$server/stat")
      row=$(nice -n "${NICE:-0}" "$load" run --endpoint "$endpoint" --keys "$work/keys-$spec" \
        --op "$op" "${algorithm_flags[@]}" --connections "$connections" --seconds "$seconds" \
        --label x 2> /dev/null)
      after=$(awk '{ print $14 + $15 }' "/proc/$server/stat")
      echo "$row" | awk -F'|' -v round="$round" -v binary="$binary" -v op="$op" -v spec="$spec" \
        -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
        '{ printf "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s |\n", round, binary, op, spec,
           $7 + 0, $8 + 0, $9 + 0, ($5 > 0 ? ticks * 1e6 / hz / $5 : 0), load }'
    done
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    rm -rf "$work"; work=""
  done
done

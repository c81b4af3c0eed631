#!/usr/bin/env bash
# Encrypts and decrypts a 1 GiB file with kms (signed and unsigned suites) against a fresh kmsd,
# and prints GB/s beside OpenSSL's single-core AES-256-GCM rate (and age's, when installed).
# Files live in /dev/shm so the disk does not set the pace. Usage: bench/envelope_bench.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
size_mib=${SIZE_MIB:-1024}
work=$(mktemp -d /dev/shm/kms-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
KMSD_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KMSD_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$build/kmsd" serve --listen 127.0.0.1:0 --data-dir "$work/kmsd" > "$work/kmsd.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q "listening on" "$work/kmsd.log" && break; sleep 0.1; done
export AWS_ENDPOINT_URL=$(grep -o 'http://[0-9.:]*' "$work/kmsd.log" | head -1)
key=$(/usr/bin/aws kms create-key --endpoint-url "$AWS_ENDPOINT_URL" --query KeyMetadata.Arn --output text)

head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/plain"
rate() { python3 -c "print(f'{$size_mib * 1048576 / $1 / 1e9:.2f}')"; }
timed() { local start end; start=$(date +%s.%N); "$@"; end=$(date +%s.%N); python3 -c "print($end - $start)"; }

echo "| what | seconds | GB/s |"
echo "|---|---|---|"
for algorithm in AES_256_GCM_HKDF_SHA512_COMMIT_KEY AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384; do
  t=$(timed "$build/kms" encrypt --algorithm $algorithm --frame-length 65536 --key-id "$key" "$work/plain" "$work/sealed")
  echo "| kms encrypt $algorithm (64 KiB frames) | $t | $(rate "$t") |"
  t=$(timed "$build/kms" decrypt "$work/sealed" "$work/opened")
  echo "| kms decrypt $algorithm (64 KiB frames) | $t | $(rate "$t") |"
  cmp -s "$work/plain" "$work/opened" || { echo "round trip mismatch" >&2; exit 1; }
  t=$(timed "$build/kms" encrypt --algorithm $algorithm --key-id "$key" "$work/plain" "$work/sealed")
  echo "| kms encrypt $algorithm (4 KiB frames, default) | $t | $(rate "$t") |"
  t=$(timed "$build/kms" decrypt "$work/sealed" "$work/opened")
  echo "| kms decrypt $algorithm (4 KiB frames, default) | $t | $(rate "$t") |"
done
openssl_rate=$(openssl speed -elapsed -seconds 3 -evp aes-256-gcm -bytes 16384 2>/dev/null | awk '/^AES-256-GCM/ {print $NF}')
echo "| openssl speed -evp aes-256-gcm (16 KiB blocks, one core) | - | $(awk -v r="${openssl_rate%k}" 'BEGIN {printf "%.2f", r * 1000 / 1e9}') |"
if command -v age > /dev/null; then
  age-keygen -o "$work/age.key" 2> /dev/null
  recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.key")
  t=$(timed age -r "$recipient" -o "$work/sealed.age" "$work/plain")
  echo "| age encrypt | $t | $(rate "$t") |"
  t=$(timed age -d -i "$work/age.key" -o "$work/opened" "$work/sealed.age")
  echo "| age decrypt | $t | $(rate "$t") |"
else
  echo "| age | - | not installed (apt-get install age) |"
fi

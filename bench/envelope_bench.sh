#!/usr/bin/env bash
# Encrypts and decrypts a 1 GiB file with kms (unsigned and signed suites) against a fresh kmsd and
# prints GB/s beside what bounds it on this machine: OpenSSL's single-core AES-256-GCM (and
# SHA-384, which the signed suite must run over every byte), a plain copy of the file (the I/O
# ceiling), and age when installed. Each figure is the best of REPEAT runs, because the machine
# is shared. Files live in /dev/shm so the disk does not set the pace.
# Usage: bench/envelope_bench.sh [BUILD_DIR]   (env: SIZE_MIB=1024 REPEAT=3)
set -euo pipefail
build=${1:-build}
size_mib=${SIZE_MIB:-1024}
repeat=${REPEAT:-3}
work=$(mktemp -d /dev/shm/kms-bench.XXXXXX)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
KMSD_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KMSD_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$build/kmsd" serve --listen 127.0.0.1:0 --data-dir "$work/kmsd" > "$work/kmsd.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$work/kmsd.log" && break; sleep 0.1; done
export AWS_ENDPOINT_URL=$(grep -o 'http://[0-9.:]*' "$work/kmsd.log" | head -1)
key=$(/usr/bin/aws kms create-key --endpoint-url "$AWS_ENDPOINT_URL" --query KeyMetadata.Arn --output text)

head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/plain"
bytes=$((size_mib * 1024 * 1024))

# best SECONDS MAX_RSS_KIB of REPEAT runs of a command.
best() {
  local run t rss best_t= best_rss=0
  for run in $(seq "$repeat"); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@"
    read -r t rss < "$work/time"
    if [[ -z $best_t ]] || awk -v a="$t" -v b="$best_t" 'BEGIN {exit !(a < b)}'; then best_t=$t; fi
    (( rss > best_rss )) && best_rss=$rss
  done
  echo "$best_t $best_rss"
}
row() {  # row LABEL COMMAND...
  local label=$1 t rss
  shift
  read -r t rss < <(best "$@")
  printf '| %s | %s | %s | %s |\n' "$label" "$t" \
    "$(awk -v b=$bytes -v t="$t" 'BEGIN {printf "%.2f", (t > 0) ? b / t / 1e9 : 0}')" "$((rss / 1024))"
}

echo "kms $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null), $size_mib MiB, best of $repeat, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | seconds | GB/s | max RSS MiB |"
echo "|---|---|---|---|"
row "cp (the I/O ceiling: read + write a new file)" cp "$work/plain" "$work/copy"
rm -f "$work/copy"
for algorithm in AES_256_GCM_HKDF_SHA512_COMMIT_KEY AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384; do
  short=${algorithm#AES_256_GCM_HKDF_SHA512_}
  for frame in 4096 65536; do
    row "kms encrypt $short, frames $frame, file -> file" \
      "$build/kms" encrypt --algorithm $algorithm --frame-length $frame --key-id "$key" "$work/plain" "$work/sealed"
    row "kms decrypt $short, frames $frame, file -> file" "$build/kms" decrypt "$work/sealed" "$work/opened"
    cmp -s "$work/plain" "$work/opened" || { echo "round trip mismatch" >&2; exit 1; }
    rm -f "$work/opened"
    row "kms decrypt $short, frames $frame, file -> /dev/null" "$build/kms" decrypt "$work/sealed" /dev/null
  done
  row "kms encrypt $short, frames 4096, file -> /dev/null" \
    "$build/kms" encrypt --algorithm $algorithm --key-id "$key" "$work/plain" /dev/null
  row "kms --threads 0 (one core) encrypt $short, frames 4096, file -> /dev/null" \
    "$build/kms" --threads 0 encrypt --algorithm $algorithm --key-id "$key" "$work/plain" /dev/null
  rm -f "$work/sealed"
done
speed() {  # speed ALGORITHM BYTES: OpenSSL's single-core rate on BYTES-sized blocks, in GB/s
  openssl speed -elapsed -seconds 3 -bytes "$2" -evp "$1" 2>/dev/null |
    awk 'END {v = $NF; sub(/k$/, "", v); printf "%.2f", v * 1000 / 1e9}'
}
echo "| openssl speed -evp aes-256-gcm, 16 KiB blocks, one core | - | $(speed aes-256-gcm 16384) | - |"
echo "| openssl speed -evp aes-256-gcm, 4 KiB blocks (the default frame), one core | - | $(speed aes-256-gcm 4096) | - |"
echo "| openssl speed -evp sha384, 16 KiB blocks, one core (bounds the signed suite) | - | $(speed sha384 16384) | - |"
if command -v age > /dev/null; then
  age-keygen -o "$work/age.key" 2> /dev/null
  recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.key")
  row "age encrypt (X25519 recipient), file -> file" age -r "$recipient" -o "$work/sealed.age" "$work/plain"
  row "age decrypt, file -> file" age -d -i "$work/age.key" -o "$work/opened" "$work/sealed.age"
else
  echo "| age | - | not installed (apt-get install age) | - |"
fi

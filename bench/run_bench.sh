#!/usr/bin/env bash
# The load benchmark behind `make bench`: starts a fresh kmsd (SigV4 and the audit trail on, as in
# production), drives it with bench/kms_load (64 keep-alive connections, every answer checked),
# does the same against moto_server when it is installed, measures 10 and 100,000 keys (creation,
# memory, start-up, latency), and writes the table into docs/BENCHMARKS.md between the
# "load benchmark" markers, leaving the other sections alone.
#
# Usage: bench/run_bench.sh BUILD_DIR   (environment: SECONDS_PER_RUN=10 CONNECTIONS=64
#        SCALE_KEYS=100000 DATA_ROOT=/var/tmp NO_DOC=1 to print only, SIGNING_ONLY=1 for the
#        signing and MAC section alone, printed only; ETCD_ONLY=1 for the single-node SQLite rows
#        and the two-nodes-on-etcd rows of one run, printed only)
set -euo pipefail
build=${1:?usage: bench/run_bench.sh BUILD_DIR}
seconds=${SECONDS_PER_RUN:-10}
connections=${CONNECTIONS:-64}
scale_keys=${SCALE_KEYS:-100000}
repo=$(cd "$(dirname "$0")/.." && pwd)
# On a real disk, not tmpfs: the audit trail's fdatasync is part of every answer.
work=$(mktemp -d "${DATA_ROOT:-/var/tmp}/kmsd-bench.XXXXXX")
server=""
other_servers=""  # the etcd section's first node and its etcd cluster
cleanup() {
  for pid in $server $other_servers; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
load="$build/kms_load"
operations="Encrypt Decrypt GenerateDataKey DescribeKey Mix"
header="| server | operation | connections | requests | errors | requests/s | p50 ms | p99 ms | p99.9 ms |
|---|---|--:|--:|--:|--:|--:|--:|--:|"

# Starts kmsd on DIR (with any further serve flags); sets server, endpoint and startup_seconds
# (from launch until it answers).
start_kmsd() {
  local dir=$1 started
  started=$(date +%s.%N)
  KMSD_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KMSD_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$build/kmsd" serve --listen 127.0.0.1:0 --data-dir "$dir" "${@:2}" > "$dir.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do grep -q "listening on" "$dir.log" && break; sleep 0.01; done
  endpoint=$(grep -o 'http://[0-9.:]*' "$dir.log" | head -1)
  [ -n "$endpoint" ] || { cat "$dir.log" >&2; exit 1; }
  # Started = answering HTTP (kmsd opens its keystore and audit trail before it listens).
  until curl -s -o /dev/null "$endpoint"; do sleep 0.01; done
  startup_seconds=$(python3 -c "print(f'{$(date +%s.%N) - $started:.3f}')")
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }

run_suite() {  # label endpoint keys-file
  local op
  for op in $operations; do
    "$load" run --endpoint "$2" --keys "$3" --op "$op" --connections "$connections" \
      --seconds "$seconds" --label "$1" || echo "| $1 | $op | kms_load reported errors (see above) |||||||" >&2
  done
}

# openssl speed's figure for a primitive, summed over one process per core run at once (OpenSSL
# 3.0's own -multi misreports RSA and ignores -hmac's digest): sign/s for ecdsap256, rsa2048 and
# ed25519 (issue 13's Ed25519 keys); HMAC-SHA256s/s of a 64-byte message for hmac (its bytes/s
# divided by 64).
openssl_ceiling() {
  local primitive=$1 i pids=()
  for i in $(seq "$(nproc)"); do
    if [ "$primitive" = hmac ]; then
      openssl speed -seconds "$seconds" -bytes 64 -hmac sha256 > "$work/speed.$i" 2>/dev/null &
    else
      openssl speed -seconds "$seconds" "$primitive" > "$work/speed.$i" 2>/dev/null &
    fi
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$work"/speed.* | awk '
    /^hmac\(sha256\)/ { v = $2; sub(/k$/, "", v); sum += v * 1000 / 64 }
    /ecdsa \(nistp256\)|^rsa 2048 bits|EdDSA \(Ed25519\)/ { sum += $(NF - 1) }
    END { printf "%.0f", sum }'
  rm -f "$work"/speed.*
}

# kmsd's CPU time so far (user + system), in clock ticks.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }

# Sign (ECC_NIST_P256, RSA_2048) through kmsd, each beside `openssl speed` for the same primitive
# on every core of the same machine: the ceiling no server of it can pass (kmsd adds HTTP, SigV4,
# authorization and a durable audit record per answer). GenerateMac beside kmsd's own fastest
# operation (GenerateDataKey, same kmsd, same run): an HMAC of a small message costs 0.3 µs, a
# request tens of µs, so openssl speed -hmac is no ceiling a request can approach (printed below
# the table for reference). kmsd's CPU per request is the figure least moved by other load.
signing_section() {
  local label spec op algorithm speed_args ceiling rate row ticks requests cpu fastest="" hmac
  local hz name
  hz=$(getconf CLK_TCK)
  {
    echo
    echo "### Signing and MAC keys beside their ceilings (10 keys each, $connections connections, ${seconds} s; openssl speed in $(nproc) processes at once)"
    echo
    echo "| operation | key spec | kmsd requests/s | p50 ms | p99 ms | kmsd CPU µs/request | ceiling | ceiling /s | kmsd / ceiling |"
    echo "|---|---|--:|--:|--:|--:|---|--:|--:|"
  } >> "$results"
  mkdir -p "$work/signing"
  start_kmsd "$work/signing"
  for label in "GenerateDataKey SYMMETRIC_DEFAULT - -" \
               "Sign ECC_NIST_P256 ECDSA_SHA_256 ecdsap256" \
               "Sign RSA_2048 RSASSA_PKCS1_V1_5_SHA_256 rsa2048" \
               "Sign ECC_NIST_EDWARDS25519 ED25519_SHA_512 ed25519" \
               "GenerateMac HMAC_256 HMAC_SHA_256 fastest"; do
    read -r op spec algorithm speed_args <<< "$label"
    local spec_flags=() algorithm_flags=()
    [ "$spec" = SYMMETRIC_DEFAULT ] || spec_flags=(--key-spec "$spec")
    [ "$algorithm" = - ] || algorithm_flags=(--algorithm "$algorithm")
    "$load" create-keys --endpoint "$endpoint" --count 10 "${spec_flags[@]}" \
      --out "$work/keys-$spec" > /dev/null
    ticks=$(server_ticks)
    row=$("$load" run --endpoint "$endpoint" --keys "$work/keys-$spec" --op "$op" \
      "${algorithm_flags[@]}" --connections "$connections" --seconds "$seconds" --label kmsd)
    ticks=$(( $(server_ticks) - ticks ))
    echo "$row" >&2
    rate=$(echo "$row" | awk -F'|' '{ print $7 + 0 }')
    requests=$(echo "$row" | awk -F'|' '{ print $5 + 0 }')
    # The CPU of the whole run (warm-up included) over the requests counted after the warm-up:
    # a slight overestimate, the same for every row.
    cpu=$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }')
    case $speed_args in
      -) fastest=$rate; ceiling=""; name="(kmsd's fastest operation: the reference)" ;;
      fastest) ceiling=$fastest; name="kmsd GenerateDataKey, same run" ;;
      *) ceiling=$(openssl_ceiling "$speed_args"); name="openssl speed $speed_args" ;;
    esac
    echo "$row" | awk -F'|' -v op="$op" -v spec="$spec" -v c="$ceiling" -v r="$rate" -v cpu="$cpu" -v name="$name" \
      '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", op, spec, r, $8 + 0, $9 + 0, cpu, name, c,
         (c > 0 ? sprintf("%.1f%%", 100 * r / c) : "") }' | tee -a "$results"
  done
  stop_server
  hmac=$(openssl_ceiling hmac)
  printf '\nFor reference: `openssl speed -hmac sha256 -bytes 64` in %s processes: %s HMACs/s.\n' \
    "$(nproc)" "$hmac" | tee -a "$results"
}

results=$work/results.md
if [ -n "${SIGNING_ONLY:-}" ]; then
  echo "Machine: $(nproc) vCPU, load before the run: $(uptime | sed 's/.*load average: //')." > "$results"
  signing_section
  cat "$results"
  exit 0
fi
{
  echo "Machine: $(nproc) vCPU ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r); data on $(df -T "$work" | awk 'NR==2 {print $2}')."
  echo "Commit $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src include || echo ' (with uncommitted changes)'), $(date -u +%Y-%m-%d). Load before the run: $(uptime | sed 's/.*load average: //')."
  echo "Command: \`make bench\` (= \`bench/run_bench.sh $build\`, SECONDS_PER_RUN=$seconds CONNECTIONS=$connections SCALE_KEYS=$scale_keys), kms_load on the same machine."
  echo
  echo "### Throughput and latency, 10 keys, $connections connections, ${seconds} s per operation"
  echo
  echo "$header"
} > "$results"

# kmsd, 10 keys.
mkdir -p "$work/kmsd"
start_kmsd "$work/kmsd"
"$load" create-keys --endpoint "$endpoint" --count 10 --out "$work/keys10" > /dev/null
run_suite kmsd "$endpoint" "$work/keys10" | tee -a "$results"
stop_server

# ---- two nodes on etcd (docs/HA.md): a three-member etcd cluster on loopback, node A creates
# the keys, node B serves them (from its cache after the first read: no etcd round trip), in the
# same run as the SQLite rows above; CreateKey is an etcd transaction.
{
  echo
  echo "### Two kmsd nodes on a three-member etcd cluster: Encrypt and GenerateDataKey on node B, keys created on node A (10 keys, $connections connections)"
  echo
  echo "$header"
} >> "$results"
/usr/bin/python3 -c '
import os, signal, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
from etcd_harness import EtcdCluster
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with EtcdCluster(3) as cluster:
    print(cluster.endpoints, flush=True)
    signal.pause()
' "$repo" > "$work/etcd.endpoints" 2> "$work/etcd.log" &
etcd_helper=$!
other_servers=$etcd_helper
for _ in $(seq 600); do [ -s "$work/etcd.endpoints" ] && break; sleep 0.1; done
etcd_endpoints=$(head -1 "$work/etcd.endpoints")
[ -n "$etcd_endpoints" ] || { cat "$work/etcd.log" >&2; exit 1; }
mkdir -p "$work/etcd-a" "$work/etcd-b"
start_kmsd "$work/etcd-a" --storage etcd --etcd-endpoints "$etcd_endpoints"
node_a=$server endpoint_a=$endpoint
other_servers="$node_a $etcd_helper"
cp -p "$work/etcd-a/root.key" "$work/etcd-b/root.key"  # the cluster's one root of trust
start_kmsd "$work/etcd-b" --storage etcd --etcd-endpoints "$etcd_endpoints"
"$load" create-keys --endpoint "$endpoint_a" --count 10 --out "$work/etcd-keys10" > /dev/null
for op in Encrypt GenerateDataKey; do
  "$load" run --endpoint "$endpoint" --keys "$work/etcd-keys10" --op "$op" \
    --connections "$connections" --seconds "$seconds" --label "kmsd B (etcd)" | tee -a "$results"
done
created=$("$load" create-keys --endpoint "$endpoint_a" --count 2000 --out "$work/etcd-keys2000")
echo "$created" >&2
rate=$(echo "$created" | sed -n 's/.* in \([0-9.]*\) s (\([0-9]*\) keys.s.*/\1 s, \2 keys\/s/p')
printf '\nCreateKey on node A (one etcd transaction each), 2,000 keys, %s connections: %s.\n' \
  "$connections" "$rate" | tee -a "$results"
stop_server
kill "$node_a" "$etcd_helper"
wait "$node_a" "$etcd_helper" 2>/dev/null || true
other_servers=""
# ---- end two nodes on etcd
if [ -n "${ETCD_ONLY:-}" ]; then  # the SQLite and etcd rows only (issue 12's comparison)
  cat "$results"
  exit 0
fi

# Access control on the hot path: GenerateDataKey by the root, and by an IAM user whose only
# access is a key-policy statement with an encryption-context condition, same keys, same run.
{
  echo
  echo "### Authorization: GenerateDataKey, root vs an IAM user allowed by a key policy with an encryption-context condition (10 keys, $connections connections)"
  echo
  echo "$header"
} >> "$results"
mkdir -p "$work/access"
start_kmsd "$work/access"
"$load" create-keys --endpoint "$endpoint" --count 10 --out "$work/access-keys" > /dev/null
user_credentials=$(/usr/bin/python3 "$repo/bench/access_setup.py" "$endpoint" "$work/access-keys")
for round in 1 2; do
  "$load" run --endpoint "$endpoint" --keys "$work/access-keys" --op GenerateDataKey \
    --connections "$connections" --seconds "$seconds" --label "kmsd root" \
    --encryption-context purpose=bench | tee -a "$results"
  (export AWS_ACCESS_KEY_ID=${user_credentials%% *} AWS_SECRET_ACCESS_KEY=${user_credentials#* }
   "$load" run --endpoint "$endpoint" --keys "$work/access-keys" --op GenerateDataKey \
     --connections "$connections" --seconds "$seconds" --label "kmsd IAM user" \
     --encryption-context purpose=bench) | tee -a "$results"
done
stop_server
awk -F'|' '$2 ~ /kmsd (root|IAM user)/ { gsub(/^ +| +$/, "", $2); sum[$2] += $7; n[$2]++ }
  END { if (n["kmsd root"] && n["kmsd IAM user"]) printf "\nIAM user / root, mean of the rounds: %.1f%%\n", 100 * (sum["kmsd IAM user"] / n["kmsd IAM user"]) / (sum["kmsd root"] / n["kmsd root"]) }' \
  "$results" | tee -a "$results"
signing_section

# moto_server, same load.
if command -v moto_server > /dev/null; then
  {
    echo
    echo "### moto_server, the same load (10 keys, $connections connections, ${seconds} s per operation)"
    echo
    echo "$header"
  } >> "$results"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  moto_server -p "$port" > "$work/moto.log" 2>&1 &
  server=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port"; do sleep 0.1; done
  "$load" create-keys --endpoint "http://127.0.0.1:$port" --count 10 --out "$work/moto-keys" > /dev/null
  run_suite moto "http://127.0.0.1:$port" "$work/moto-keys" | tee -a "$results"
  stop_server
  moto_note="moto_server: moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '(version unknown)'), its development server (one thread per connection, closes after each answer)."
else
  moto_note="moto_server is not installed here: its rows are missing (pip install 'moto[server]')."
fi
echo "$moto_note" >&2
printf '\n%s\n' "$moto_note" >> "$results"

{
  echo
  echo "Ratio kmsd / moto (requests/s), from the table above:"
  echo
  awk -F'|' '$2 ~ /kmsd|moto/ { gsub(/ /, "", $2); gsub(/^ +| +$/, "", $3); rate[$2, $3] = $7 + 0; ops[$3] = 1 }
    END { for (op in ops) if (rate["moto", op] > 0) printf "- %s: %.0fx\n", op, rate["kmsd", op] / rate["moto", op] }' "$results" | sort
  echo
  echo "### Scale: 10 and $scale_keys keys (kmsd)"
  echo
  echo "| keys | creation s (keys/s, $connections connections) | RSS after creation MiB | start-up s | RSS after start-up MiB | Encrypt req/s | p50 ms | p99 ms | p99.9 ms | RSS after load MiB |"
  echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
} >> "$results"

for keys in 10 "$scale_keys"; do
  dir=$work/scale-$keys
  mkdir -p "$dir"
  start_kmsd "$dir"
  created=$("$load" create-keys --endpoint "$endpoint" --count "$keys" --out "$dir.keys")
  creation=$(echo "$created" | sed -n 's/.* in \([0-9.]*\) s (\([0-9]*\) keys.s.*/\1 (\2)/p')
  rss_created=$(rss_mib)
  stop_server
  start_kmsd "$dir"
  startup=$startup_seconds
  rss_started=$(rss_mib)
  # Keys drawn at random from the whole list (kms_load samples at most 2,000 of them evenly).
  row=$("$load" run --endpoint "$endpoint" --keys "$dir.keys" --op Encrypt \
    --connections "$connections" --seconds "$seconds" --label kmsd)
  rss_loaded=$(rss_mib)
  stop_server
  echo "$row" >&2
  echo "$row" | awk -F'|' -v k="$keys" -v c="$creation" -v r1="$rss_created" -v s="$startup" \
    -v r2="$rss_started" -v r3="$rss_loaded" \
    '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k, c, r1, s, r2, $7+0, $8+0, $9+0, $10+0, r3 }' \
    | tee -a "$results"
done

echo >> "$results"
echo "Load after the run: $(uptime | sed 's/.*load average: //')." >> "$results"
cat "$results"

if [ -z "${NO_DOC:-}" ]; then
  python3 - "$repo/docs/BENCHMARKS.md" "$results" <<'EOF'
import sys
path, results = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
begin, end = "<!-- load benchmark: begin (written by make bench) -->", "<!-- load benchmark: end -->"
text = open(path).read()
block = f"{begin}\n{results}\n{end}"
if begin in text and end in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + f"\n\n## Load (make bench)\n\n{block}\n"
open(path, "w").write(text)
print(f"wrote the results into {path}", file=sys.stderr)
EOF
fi

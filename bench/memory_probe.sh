#!/bin/bash
# The memory probe of docs/SECURITY.md ("Memory and core dumps"): starts KMSD on a fresh data dir,
# runs ROUNDS rounds of bench/hostile_load.py, prints RSS after each and after IDLE seconds idle,
# then stops kmsd with SIGTERM and shows any LeakSanitizer/ASan report (for an -fsanitize=address
# build). JESTATS=1 also prints jemalloc's totals after each round (via gdb: malloc_stats_print);
# JEPROF=1 adds heap profile dumps for `jeprof --base`.
#
#   bench/memory_probe.sh KMSD SECONDS ROUNDS [MALLOC_CONF]
set -u
KMSD=$1; SECS=$2; ROUNDS=$3; CONF=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/kmsd-memory-probe.XXXX)
export KMSD_ROOT_ACCESS_KEY_ID=AKIAMEMORYPROBE00001 KMSD_ROOT_SECRET_ACCESS_KEY=memory-probe-secret-memory-probe-secret
export AWS_ACCESS_KEY_ID=$KMSD_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$KMSD_ROOT_SECRET_ACCESS_KEY
MALLOC_CONF=${CONF}${JEPROF:+${CONF:+,}prof:true,lg_prof_sample:12,prof_prefix:$D/jeprof} \
  "$KMSD" serve --listen 127.0.0.1:0 --data-dir "$D/data" --no-access-log > "$D/log" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$D/log" && break; sleep 0.2; done
EP=$(grep -o "listening on \S*" "$D/log" | awk '{print $3}')
[ -n "$EP" ] || { echo "kmsd did not start:"; cat "$D/log"; kill $PID; exit 1; }
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
echo "start rss=$(rss) kB"
for round in $(seq "$ROUNDS"); do
  /usr/bin/python3 "$HERE/hostile_load.py" "$EP" "$SECS"
  echo "after round $round rss=$(rss) kB"
  if [ -n "${JESTATS:-}${JEPROF:-}" ]; then
    timeout 60 gdb -p $PID -batch -ex 'call (void)malloc_stats_print(0,0,"gmdablxeh")' >/dev/null 2>&1
    sleep 0.3; grep -E "^Allocated" "$D/log" | tail -1
  fi
  if [ -n "${JEPROF:-}" ]; then
    timeout 60 gdb -p $PID -batch \
      -ex 'call (int)mallctl("prof.dump", (void*)0, (void*)0, (void*)0, 0)' >/dev/null 2>&1
    ls -t "$D"/jeprof* 2>/dev/null | head -1
  fi
done
sleep "${IDLE:-20}"; echo "idle rss=$(rss) kB"
kill -TERM $PID; timeout 60 tail --pid=$PID -f /dev/null; wait $PID; echo "exit=$?"
grep -E "LeakSanitizer|ERROR: AddressSanitizer|SUMMARY" "$D/log" | head -20
echo "log and data dir: $D"

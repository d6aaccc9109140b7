#!/bin/bash
# CPU profile of bootgate's resolver answering cached queries under dnsperf load (run as root).
#   bash bench/dns/profile.sh            # SECONDS_QPS=10 CLIENTS=8 OUTSTANDING=200 OUT=/tmp/bgdns-prof
# One namespace (bgdnsp), loopback only: an upstream unbound on 127.0.0.2 serving test.example, the resolver
# (test/helpers/dns-runner.ts under `node --cpu-prof`) on 127.0.0.1, dnsperf against it. Prints the .cpuprofile
# path and a self-time summary by function (bench/dns/prof-summary.ts).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
SECONDS_QPS=${SECONDS_QPS:-10}; CLIENTS=${CLIENTS:-8}; OUTSTANDING=${OUTSTANDING:-200}
OUT=${OUT:-/tmp/bgdns-prof}; NS=bgdnsp; X="ip netns exec $NS"
rm -rf $OUT; mkdir -p $OUT; chmod 755 $OUT
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- -$p 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL -- -$p 2>/dev/null; done
  ip netns del $NS 2>/dev/null
  return 0
}
trap cleanup EXIT
ip netns del $NS 2>/dev/null; ip netns add $NS; ip -n $NS link set lo up
node --import tsx $HERE/write-confs.ts $OUT 127.0.0.2 127.0.0.3 127.0.0.0/8
$X setsid unbound -d -c $OUT/upstream.conf > $OUT/upstream.out 2>&1 < /dev/null &
PIDS+=($!)
$X setsid node --cpu-prof --cpu-prof-dir=$OUT --import tsx $REPO/test/helpers/dns-runner.ts --log warn \
  --config '{"listen":["127.0.0.1"],"upstreams":["127.0.0.2"],"cacheEntries":100000}' > $OUT/bootgate.out 2>&1 < /dev/null &
RUNNER=$!
for i in $(seq 100); do $X dig @127.0.0.1 +short +tries=1 +time=1 www.test.example 2>/dev/null | grep -q 192.0.2.10 && break; sleep 0.1; done
Q=$OUT/queries.txt
{ for n in www other; do echo "$n.test.example A"; done; echo "www.test.example AAAA"
  for i in 1 2 3 4; do echo "www.test.example A"; done; echo "nope.test.example A"; } > $Q
$X dnsperf -s 127.0.0.1 -d $Q -n 2 > /dev/null 2>&1
$X dnsperf -s 127.0.0.1 -d $Q -l $SECONDS_QPS -c $CLIENTS -q $OUTSTANDING 2>&1 | grep -E 'Queries (per second|lost)'
kill -INT $RUNNER; wait $RUNNER 2>/dev/null
P=$(ls $OUT/*.cpuprofile | head -1)
echo "profile: $P"
node --import tsx $HERE/prof-summary.ts "$P"

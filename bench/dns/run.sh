#!/bin/bash
# DNS resolver benchmark: bootgate vs dnsmasq vs unbound, same namespaces, same upstream, same run (run as root).
#   bash bench/dns/run.sh                 # SECONDS_QPS=10 SECONDS_LAT=5 LAT_QPS=5000 CLIENTS=8 OUTSTANDING=200 REPS=3
# Topology: bgdnsb-srv (the gateway: br0 10.55.0.1 bootgate, .11 dnsmasq, .12 unbound; wan0 10.56.0.1),
# bgdnsb-cli (10.55.0.2, dnsperf), bgdnsb-up (10.56.0.2, unbound serving test.example as local-data).
# Every resolver forwards to the same upstream and caches; the query file names only cached answers (a warm-up
# pass fills each cache). Two measures per server and repetition, servers interleaved:
#   qps   dnsperf -l SECONDS_QPS, -c CLIENTS, -q OUTSTANDING (saturating)
#   p50/p99 latency  dnsperf -v at a fixed LAT_QPS (-Q), per-query latencies sorted
# Output: $OUT/dns.tsv (server rep qps p50_ms p99_ms lost) and a median summary with the ratio to dnsmasq.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
SECONDS_QPS=${SECONDS_QPS:-10}; SECONDS_LAT=${SECONDS_LAT:-5}; LAT_QPS=${LAT_QPS:-5000}
CLIENTS=${CLIENTS:-8}; OUTSTANDING=${OUTSTANDING:-200}; REPS=${REPS:-3}
SERVERS=${SERVERS:-"bootgate dnsmasq unbound"}
OUT=${OUT:-/tmp/bgdns-bench}; RUN=$OUT/run
NS_SRV=bgdnsb-srv; NS_CLI=bgdnsb-cli; NS_UP=bgdnsb-up
GW=10.55.0.1; IP_DNSMASQ=10.55.0.11; IP_UNBOUND=10.55.0.12; CLI=10.55.0.2; UP=10.56.0.2
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"; CU="ip netns exec $NS_UP"
rm -rf $RUN; mkdir -p $RUN; chmod 755 $OUT $RUN

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- -$p 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL -- -$p 2>/dev/null; done
  for ns in $NS_CLI $NS_UP $NS_SRV; do ip netns del $ns 2>/dev/null; done
  return 0
}
trap cleanup EXIT

for ns in $NS_CLI $NS_UP $NS_SRV; do ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up; done
ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
for a in $GW $IP_DNSMASQ $IP_UNBOUND; do ip -n $NS_SRV addr add $a/24 dev br0; done
ip -n $NS_SRV link set br0 up
ip link add bgdnsbc netns $NS_CLI type veth peer name bgdnsbc-br netns $NS_SRV
ip -n $NS_SRV link set bgdnsbc-br master br0 up
ip -n $NS_CLI addr add $CLI/24 dev bgdnsbc; ip -n $NS_CLI link set bgdnsbc up
ip link add bgdnsbu netns $NS_UP type veth peer name wan0 netns $NS_SRV
ip -n $NS_SRV addr add 10.56.0.1/24 dev wan0; ip -n $NS_SRV link set wan0 up
ip -n $NS_UP addr add $UP/24 dev bgdnsbu; ip -n $NS_UP link set bgdnsbu up
for i in $(seq 50); do $CC ping -c1 -W1 -q $GW >/dev/null 2>&1 && break; sleep 0.1; done

node --import tsx $HERE/write-confs.ts $RUN $UP $IP_UNBOUND 10.55.0.0/24
spawn() {  # spawn <ns-exec-prefix> <name> <command...>: own process group, killed by that PID only
  local pre=$1 name=$2; shift 2
  $pre setsid "$@" > $RUN/$name.out 2>&1 < /dev/null &
  PIDS+=($!)
}
spawn "$CU" upstream unbound -d -c $RUN/upstream.conf
spawn "$CS" bootgate node --import tsx $REPO/test/helpers/dns-runner.ts --log warn \
  --config "{\"listen\":[\"$GW\"],\"upstreams\":[\"$UP\"],\"cacheEntries\":100000}"
spawn "$CS" dnsmasq dnsmasq -k --conf-file=/dev/null --port=53 --listen-address=$IP_DNSMASQ --bind-interfaces \
  --no-resolv --no-hosts --server=$UP --cache-size=10000 --pid-file=$RUN/dnsmasq.pid
spawn "$CS" unbound unbound -d -c $RUN/resolver-unbound.conf
ip_of() { case $1 in bootgate) echo $GW ;; dnsmasq) echo $IP_DNSMASQ ;; unbound) echo $IP_UNBOUND ;; esac; }
for s in $SERVERS; do
  for i in $(seq 100); do $CC dig @$(ip_of $s) +short +tries=1 +time=1 www.test.example 2>/dev/null | grep -q 192.0.2.10 && break; sleep 0.1; done
done

# cached answers only: the test zone's names, A and AAAA, plus NXDOMAIN (negative cache) for one in eight
Q=$RUN/queries.txt
: > $Q
for n in www other; do echo "$n.test.example A" >> $Q; done
echo "www.test.example AAAA" >> $Q
for i in $(seq 1 4); do echo "www.test.example A" >> $Q; done
echo "nope.test.example A" >> $Q
for s in $SERVERS; do $CC dnsperf -s $(ip_of $s) -d $Q -n 2 > /dev/null 2>&1; done

TSV=$OUT/dns.tsv
printf 'server\trep\tqps\tp50_ms\tp99_ms\tlost\n' > $TSV
for rep in $(seq $REPS); do
  for s in $SERVERS; do
    ip=$(ip_of $s)
    r=$($CC dnsperf -s $ip -d $Q -l $SECONDS_QPS -c $CLIENTS -q $OUTSTANDING 2>&1)
    qps=$(echo "$r" | awk '/Queries per second/ {print $4}')
    lost=$(echo "$r" | awk '/Queries lost/ {print $3}')
    $CC dnsperf -s $ip -d $Q -l $SECONDS_LAT -Q $LAT_QPS -v 2>/dev/null \
      | awk '$1 == ">" {print $NF}' | sort -g > $RUN/lat-$s-$rep.txt
    n=$(wc -l < $RUN/lat-$s-$rep.txt)
    p50=$(awk -v n=$n 'NR == int(n*0.50)+1 {printf "%.3f", $1*1000}' $RUN/lat-$s-$rep.txt)
    p99=$(awk -v n=$n 'NR == int(n*0.99)+1 {printf "%.3f", $1*1000}' $RUN/lat-$s-$rep.txt)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' $s $rep "$qps" "$p50" "$p99" "$lost" | tee -a $TSV
  done
done

echo
echo "median over $REPS repetitions (qps: -c $CLIENTS -q $OUTSTANDING for ${SECONDS_QPS}s; latency at $LAT_QPS q/s)"
med() { awk -F'\t' -v s=$1 -v c=$2 'NR > 1 && $1 == s {print $c}' $TSV | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(med dnsmasq 3)
printf '%-9s %10s %8s %8s %12s\n' server qps p50_ms p99_ms vs_dnsmasq
for s in $SERVERS; do
  q=$(med $s 3)
  printf '%-9s %10s %8s %8s %12s\n' $s "$q" "$(med $s 4)" "$(med $s 5)" "$(awk -v a=$q -v b=$base 'BEGIN {if (b > 0) printf "%.2fx", a/b}')"
done

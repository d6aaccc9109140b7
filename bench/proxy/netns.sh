#!/bin/bash
# bench/proxy/netns.sh — bootgate's explicit proxy vs tinyproxy in the topology the peer baseline was measured in
# (../shared/bench-peers/proxy-bench.sh: the issue's 9.1k req/s / p99 10 ms for tinyproxy at Warning come from it),
# same run, rounds interleaved.
#
#   client ns ──veth── bridge br0 (proxy ns) ── proxy ──veth── WAN ns: nginx (1 worker, sendfile, 4 KiB file)
#
# Run as root from the repository root:  bash bench/proxy/netns.sh
#   env: ROUNDS=3  WRK_ARGS="-t2 -c50 -d10s" (the peer script's)  WARMUP=3s (a wrk run before each measured one, for
#        every proxy; 0 = none)  AB_N=5000 (ab -X, HTTP/1.0 without keep-alive: one connection per request)
#        PROXIES="tinyproxy-Warning bootgate-sqlite bootgate-none tinyproxy-Info"  OUT=/tmp/bgproxy-bench
#        BG_NODE_ARGS="" (extra node flags for bootgate, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
# bootgate is bench/proxy/proxy-server.ts (the real HttpProxy, explicit mode; bootgate-<sink>, see that file):
# with the sqlite sink every request is one record in the appliance's audit trail, committed (synchronous=FULL)
# before the client sees its response complete. After each bootgate run the script checks that the trail holds at
# least as many records as the clients got responses ("lost" in the table: responses without a durable record).
# tinyproxy 1.11.1 is configured as the peer preset (MaxClients 100, LogLevel Warning or Info to a file).
# Namespaces bgproxy-srv/-cli/-wan, addresses 10.81.0.0/24 (client side) and 10.81.1.0/24 (WAN). Servers run under
# setsid and are stopped by their own PGID; the namespaces are deleted on exit.
# Results: $OUT/results.tsv and a summary with same-run ratios on stdout ($OUT/summary.txt).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/bgproxy-bench}
ROUNDS=${ROUNDS:-3}; WRK_ARGS=${WRK_ARGS:-"-t2 -c50 -d10s"}; WARMUP=${WARMUP:-3s}; AB_N=${AB_N:-5000}
PROXIES=${PROXIES:-"tinyproxy-Warning bootgate-sqlite bootgate-none tinyproxy-Info"}
NS_SRV=bgproxy-srv; NS_CLI=bgproxy-cli; NS_WAN=bgproxy-wan
SRV_IP=10.81.0.1; CLI_IP=10.81.0.2; WAN_IP=10.81.1.1; PORT=8888
URL=http://$WAN_IP/4k.bin
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"; CW="ip netns exec $NS_WAN"
DATA=$OUT/data; RUN=$OUT/run; LOGS=$OUT/logs
rm -rf $RUN; mkdir -p $DATA $RUN $LOGS
chmod 755 $OUT $DATA $RUN   # nginx workers run as nobody, tinyproxy as tinyproxy

for t in wrk ab nginx tinyproxy curl python3 node nstat; do command -v $t >/dev/null || { echo "missing $t (apt-get install wrk apache2-utils nginx-light tinyproxy curl iproute2)" >&2; exit 2; }; done

net_down() { for n in $NS_CLI $NS_WAN $NS_SRV; do ip netns del $n 2>/dev/null; done; return 0; }
net_up() {
  net_down
  ip netns add $NS_SRV; ip netns add $NS_CLI; ip netns add $NS_WAN
  for n in $NS_SRV $NS_CLI $NS_WAN; do ip -n $n link set lo up; done
  ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_SRV addr add $SRV_IP/24 dev br0; ip -n $NS_SRV link set br0 up
  ip link add bgproxy-c0 netns $NS_CLI type veth peer name bgproxy-c0br netns $NS_SRV
  ip -n $NS_SRV link set bgproxy-c0br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bgproxy-c0; ip -n $NS_CLI link set bgproxy-c0 up
  ip link add bgproxy-w0 netns $NS_SRV type veth peer name bgproxy-w0 netns $NS_WAN
  ip -n $NS_SRV addr add 10.81.1.2/24 dev bgproxy-w0; ip -n $NS_SRV link set bgproxy-w0 up
  ip -n $NS_WAN addr add $WAN_IP/24 dev bgproxy-w0; ip -n $NS_WAN link set bgproxy-w0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && $CS ping -c1 -W1 -q $WAN_IP >/dev/null 2>&1 && break; sleep 0.1; done
}

PGIDS=()
start_srv() {   # start_srv <name> <netns> <command string>: setsid in that namespace; PID = PGID
  ip netns exec $2 setsid bash -c "$3" > $RUN/$1.out 2> $RUN/$1.err < /dev/null &
  echo $! > $RUN/$1.pid; PGIDS+=($!)
}
grp_alive() { ps -e -o pgid=,stat= | awk -v g=$1 '$1==g && $2!~/^Z/{f=1} END{exit !f}'; }
stop_srv() {
  local f=$RUN/$1.pid; [ -f $f ] || return 0
  local p=$(cat $f)
  kill -TERM -- -$p 2>/dev/null
  for i in $(seq 100); do grp_alive $p || break; sleep 0.1; done
  grp_alive $p && kill -KILL -- -$p 2>/dev/null
  wait $p 2>/dev/null; rm -f $f
}
cleanup() { set +e; stop_srv proxy; stop_srv nginx; net_down; }
trap cleanup EXIT
wait_tcp() { for i in $(seq 100); do $CC bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0; sleep 0.1; done; echo "port $1:$2 never opened" >&2; return 1; }

[ -f $DATA/4k.bin ] || head -c 4096 /dev/urandom > $DATA/4k.bin
chmod 644 $DATA/4k.bin
# the peer script's upstream nginx, unchanged
mkdir -p $RUN/nginx-tmp
cat > $RUN/nginx.conf <<EOF
worker_processes 1;
pid $RUN/nginx.pidfile;
error_log $RUN/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  types { } default_type application/octet-stream;
  sendfile on; keepalive_timeout 65; keepalive_requests 100000; access_log off;
  client_body_temp_path $RUN/nginx-tmp/body; proxy_temp_path $RUN/nginx-tmp/proxy;
  fastcgi_temp_path $RUN/nginx-tmp/fcgi; uwsgi_temp_path $RUN/nginx-tmp/uwsgi; scgi_temp_path $RUN/nginx-tmp/scgi;
  server { listen $WAN_IP:80; root $DATA; }
}
EOF
cat > $RUN/proxy.lua <<EOF
wrk.method = "GET"
wrk.path = "$URL"
wrk.headers["Host"] = "$WAN_IP"
EOF

proxy_cmd() {   # proxy_cmd <label>: the foreground command for that proxy
  case $1 in
    tinyproxy-*)
      local lvl=${1#tinyproxy-}
      cat > $RUN/tinyproxy-$lvl.conf <<EOF
User tinyproxy
Group tinyproxy
Port $PORT
Listen $SRV_IP
Timeout 600
LogFile "$RUN/tinyproxy-$lvl.log"
LogLevel $lvl
PidFile "$RUN/tinyproxy.pidfile"
MaxClients 100
Allow 10.81.0.0/24
EOF
      : > $RUN/tinyproxy-$lvl.log; chown tinyproxy:tinyproxy $RUN/tinyproxy-$lvl.log
      echo "exec tinyproxy -d -c $RUN/tinyproxy-$lvl.conf" ;;
    bootgate-*)
      local sink=${1#bootgate-}
      rm -rf $RUN/audit-$sink.ndjson $RUN/audit-$sink.ndjson.d
      echo "cd $REPO && BENCH_SINK=$sink exec node ${BG_NODE_ARGS:-} --import tsx bench/proxy/proxy-server.ts --host $SRV_IP --port $PORT --seat-ip $CLI_IP --audit-file $RUN/audit-$sink.ndjson" ;;
    *) echo "unknown proxy $1" >&2; exit 2 ;;
  esac
}

TSV=$OUT/results.tsv
echo -e "# label\tround\treq/s\tp50_ms\tp99_ms\twrk_requests\tcpu_us_per_req\tab_req/s\tab_p99_ms\tab_cpu_us_per_req\tlost\tnote" > $TSV
net_up
start_srv nginx $NS_WAN "exec nginx -c $RUN/nginx.conf"
for i in $(seq 50); do $CS bash -c "exec 3<>/dev/tcp/$WAN_IP/80" 2>/dev/null && break; sleep 0.1; done
echo "uptime before: $(uptime)"; echo "cpus: $(nproc)"

for round in $(seq $ROUNDS); do
  for label in $PROXIES; do
    start_srv proxy $NS_SRV "$(proxy_cmd $label)"
    wait_tcp $SRV_IP $PORT || { cat $RUN/proxy.err; exit 1; }
    pid=$(cat $RUN/proxy.pid)
    code=$($CC curl -sS -o /dev/null -w '%{http_code}' -x http://$SRV_IP:$PORT $URL)
    [ "$code" = 200 ] || { echo "$label answered $code through the proxy" >&2; cat $RUN/proxy.err; exit 1; }
    served=1
    if [ "$WARMUP" != 0 ]; then
      $CC wrk -t2 -c50 -d$WARMUP -s $RUN/proxy.lua http://$SRV_IP:$PORT/ > $LOGS/$label-$round-warmup.txt 2>&1
      served=$((served + $(awk '/requests in/ {print $1}' $LOGS/$label-$round-warmup.txt)))
    fi
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    $CC wrk $WRK_ARGS --latency -s $RUN/proxy.lua http://$SRV_IP:$PORT/ > $LOGS/$label-$round-wrk.txt 2>&1
    c1=$(awk '{print $14+$15}' /proc/$pid/stat)
    $CC ab -q -n $AB_N -c 50 -X $SRV_IP:$PORT $URL > $LOGS/$label-$round-ab.txt 2>&1
    c2=$(awk '{print $14+$15}' /proc/$pid/stat)
    stop_srv proxy
    python3 - "$label" "$round" "$LOGS/$label-$round-wrk.txt" "$LOGS/$label-$round-ab.txt" "$RUN/proxy.err" $(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) )) $served $(( (c2 - c1) * 1000000 / $(getconf CLK_TCK) )) <<'EOF' | tee -a $TSV
import re, sys
label, rnd, wrkf, abf, errf, cpu_us, served, ab_cpu_us = sys.argv[1:9]
t = open(wrkf).read()
def ms(pct):
    m = re.search(r'\n\s+%s\s+([\d.]+)(us|ms|s)\b' % pct, t)
    return float(m.group(1)) * {'us': 1e-3, 'ms': 1, 's': 1e3}[m.group(2)]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
n = int(re.search(r'(\d+) requests in', t).group(1))
non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', t)
a = open(abf).read()
ab_rps = float(re.search(r'Requests per second:\s+([\d.]+)', a).group(1))
ab_p99 = re.search(r'\n\s+99%\s+(\d+)', a).group(1)
ab_ok = int(re.search(r'Complete requests:\s+(\d+)', a).group(1)) - int(re.search(r'Failed requests:\s+(\d+)', a).group(1))
lost, note = '-', ''
if non2xx: note += 'non-2xx=%s ' % non2xx.group(1)
m = re.search(r'audit records durable: (\d+)', open(errf).read())
if label.startswith('bootgate-') and label != 'bootgate-none':
    responses = int(served) + n + ab_ok
    lost = str(max(0, responses - int(m.group(1)))) if m else 'no count'
    note += 'responses=%d durable=%s' % (responses, m.group(1) if m else '?')
ab_n = int(re.search(r'Complete requests:\s+(\d+)', a).group(1))
print('%s\t%s\t%.0f\t%.2f\t%.2f\t%d\t%d\t%.0f\t%s\t%d\t%s\t%s' % (label, rnd, rps, ms('50%'), ms('99%'), n, int(cpu_us) / n, ab_rps, ab_p99, int(ab_cpu_us) / ab_n, lost, note.strip()))
EOF
  done
done
echo "uptime after: $(uptime)"

python3 - $TSV "$PROXIES" <<'EOF' | tee $OUT/summary.txt
import sys, statistics as st
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('#')]
labels = sys.argv[2].split()
by = {l: [r for r in rows if r[0] == l] for l in labels}
def med(l, i): return st.median(float(r[i]) for r in by[l])
def rng(l, i): v = [float(r[i]) for r in by[l]]; return '%g..%g' % (min(v), max(v))
print('| proxy | req/s median (range) | p50 ms | p99 ms median (range) | CPU µs/request | ab -X req/s | ab p99 ms | ab CPU µs/request | responses without a durable record |')
print('|---|---|---|---|---|---|---|---|---|')
for l in labels:
    if not by[l]: continue
    lost = ', '.join(r[10] for r in by[l])
    print('| %s | %.0f (%s) | %.2f | %.2f (%s) | %.0f | %.0f | %.0f | %.0f | %s |' % (l, med(l, 2), rng(l, 2), med(l, 3), med(l, 4), rng(l, 4), med(l, 6), med(l, 7), med(l, 8), med(l, 9), lost))
base = 'tinyproxy-Warning'
if by.get(base):
    print()
    print('same-round ratios to %s (req/s ×, p99 ×):' % base)
    for l in labels:
        if l == base or not by[l]: continue
        parts = []
        for r in by[l]:
            b = next((x for x in by[base] if x[1] == r[1]), None)
            if b: parts.append('round %s: %.2f×, p99 %.2f×' % (r[1], float(r[2]) / float(b[2]), float(r[4]) / float(b[4])))
        print('  %s: %s' % (l, '; '.join(parts)))
EOF

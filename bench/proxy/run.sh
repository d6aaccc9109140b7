#!/usr/bin/env bash
# wrk through bootgate's explicit proxy vs tinyproxy (Debian) to the same local nginx, same run.
# Usage: bash bench/proxy/run.sh [duration=10s] [connections=64]   (needs: wrk, nginx-light, tinyproxy)
#   SINKS="sqlite file none" (default): which bootgate audit sinks to run
# bootgate runs once per audit sink (see bench/proxy/proxy-server.ts): sqlite (the appliance's own trail,
# src/audit, committed by the audit writer thread), sqlite-main (the same trail committed on the main thread, as
# before the writer thread), file (NDJSON + fdatasync group commit), none (not durable: the proxy path alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
CONN=${2:-64}
WEB=18180; BG=18128; TP=18888
tmp=$(mktemp -d /tmp/bggw-bench.XXXXXX); chmod 755 "$tmp"  # nginx workers run as nobody
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
echo "uptime before: $(uptime)"; echo "cpus: $(nproc)"

# origin: nginx serving a 1 KiB file
mkdir -p "$tmp/www"; head -c 1024 /dev/zero | tr '\0' 'x' > "$tmp/www/index.html"
cat > "$tmp/nginx.conf" <<NGX
daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:$WEB; root $tmp/www; } }
NGX
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)

# tinyproxy, once per log level
tinyproxy_conf() { cat > "$tmp/tp-$1.conf" <<TPC
Port $TP
Listen 127.0.0.1
Timeout 60
MaxClients 1024
LogFile "$tmp/tinyproxy-$1.log"
LogLevel $1
Allow 127.0.0.1
TPC
}

cat > "$tmp/proxy.lua" <<LUA
wrk.path = "http://127.0.0.1:$WEB/index.html"
wrk.headers["Host"] = "127.0.0.1:$WEB"
LUA

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
wait_port $WEB

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tcp_opens() { nstat -az TcpActiveOpens | awk '/TcpActiveOpens/ {print $2}'; }
check_ok() { local s; s=$(curl -s -o /dev/null -w "%{http_code}" -x "http://127.0.0.1:$1" "http://127.0.0.1:$WEB/index.html"); [ "$s" = 200 ] || { echo "proxy on $1 answered $s" >&2; exit 1; }; }
# run_wrk PORT NAME PID: wrk, plus the proxy's CPU time and the TCP connections opened during the run
run_wrk() {
  check_ok "$1"
  local c0 c1 o0 o1
  c0=$(cpu_ticks "$3"); o0=$(tcp_opens)
  wrk -t2 -c"$CONN" -d"$DUR" --latency -s "$tmp/proxy.lua" "http://127.0.0.1:$1/" | tee "$tmp/wrk-$2.txt"
  c1=$(cpu_ticks "$3"); o1=$(tcp_opens)
  echo "$(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) ))|$((o1 - o0))" > "$tmp/cpu-$2.txt"
}
summary() { # file → req/s|p50|p99|requests
  local f=$1
  echo "$(awk '/Requests\/sec/ {print $2}' "$f")|$(awk '$1=="50%" {print $2}' "$f")|$(awk '$1=="99%" {print $2}' "$f")|$(awk '/requests in/ {print $1}' "$f")"
}

for sink in ${SINKS:-sqlite file none}; do
  echo "== bootgate explicit proxy (audit sink: $sink)"
  BENCH_SINK=$sink node --import tsx bench/proxy/proxy-server.ts --port $BG --audit-file "$tmp/audit-$sink.ndjson" > "$tmp/bg-$sink.out" 2> "$tmp/bg-$sink.err" & bgpid=$!; pids+=($bgpid)
  wait_port $BG
  run_wrk $BG "bootgate-$sink" $bgpid
  kill -TERM $bgpid; wait $bgpid || true
  cat "$tmp/bg-$sink.err"
done

for lvl in Info Warning; do
  echo "== tinyproxy LogLevel $lvl"
  tinyproxy_conf $lvl
  tinyproxy -d -c "$tmp/tp-$lvl.conf" > /dev/null 2>&1 & tppid=$!; pids+=($tppid)
  wait_port $TP
  run_wrk $TP "tinyproxy-$lvl" $tppid
  kill -TERM $tppid; wait $tppid || true
done
echo "uptime after: $(uptime)"

{
  echo "| proxy | req/s | p50 | p99 | requests completed | audit records durable | proxy CPU per request | TCP connects during run |"
  echo "|---|---|---|---|---|---|---|---|"
  for sink in ${SINKS:-sqlite file none}; do
    IFS='|' read -r a b c d <<< "$(summary "$tmp/wrk-bootgate-$sink.txt")"
    IFS='|' read -r us opens < "$tmp/cpu-bootgate-$sink.txt"
    durable=$(awk '/audit records durable/ {print $4}' "$tmp/bg-$sink.err")
    [ "$sink" = none ] && durable="($durable, not durable)"
    echo "| bootgate, audit: $sink | $a | $b | $c | $d | $durable | $((us / d)) µs | $opens |"
  done
  for lvl in Info Warning; do
    IFS='|' read -r a b c d <<< "$(summary "$tmp/wrk-tinyproxy-$lvl.txt")"
    IFS='|' read -r us opens < "$tmp/cpu-tinyproxy-$lvl.txt"
    echo "| tinyproxy ($lvl) | $a | $b | $c | $d | - | $((us / d)) µs | $opens |"
  done
} | tee "$tmp/table.md"

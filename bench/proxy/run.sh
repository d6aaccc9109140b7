#!/usr/bin/env bash
# wrk through bootgate's explicit proxy vs tinyproxy (Debian) to the same local nginx, same run.
# Usage: bash bench/proxy/run.sh [duration=10s] [connections=64]   (needs: wrk, nginx-light, tinyproxy)
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
CONN=${2:-64}
WEB=18180; BG=18128; TP=18888
tmp=$(mktemp -d /tmp/bggw-bench.XXXXXX); chmod 755 "$tmp"  # nginx workers run as nobody
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

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

check_ok() { local s; s=$(curl -s -o /dev/null -w "%{http_code}" -x "http://127.0.0.1:$1" "http://127.0.0.1:$WEB/index.html"); [ "$s" = 200 ] || { echo "proxy on $1 answered $s" >&2; exit 1; }; }
run_wrk() { check_ok "$1"; wrk -t2 -c"$CONN" -d"$DUR" --latency -s "$tmp/proxy.lua" "http://127.0.0.1:$1/" | tee "$tmp/wrk-$2.txt"; }
summary() { # name file
  local f=$1; local rps mbs p99 reqs
  rps=$(awk '/Requests\/sec/ {print $2}' "$f"); mbs=$(awk '/Transfer\/sec/ {print $2}' "$f")
  p99=$(awk '$1=="99%" {print $2}' "$f"); reqs=$(awk '/requests in/ {print $1}' "$f")
  echo "$rps|$mbs|$p99|$reqs"
}

echo "== bootgate explicit proxy (audit: NDJSON, group commit + fdatasync)"
node --import tsx bench/proxy/proxy-server.ts --port $BG --audit-file "$tmp/audit.ndjson" > "$tmp/bg.out" 2> "$tmp/bg.err" & bgpid=$!; pids+=($bgpid)
wait_port $BG
run_wrk $BG bootgate
kill -TERM $bgpid; wait $bgpid || true
bg_records=$(wc -l < "$tmp/audit.ndjson")
echo "audit records on disk: $bg_records; $(cat "$tmp/bg.err")"

for lvl in Info Warning; do
  echo "== tinyproxy LogLevel $lvl"
  tinyproxy_conf $lvl
  tinyproxy -d -c "$tmp/tp-$lvl.conf" > /dev/null 2>&1 & tppid=$!; pids+=($tppid)
  wait_port $TP
  run_wrk $TP "tinyproxy-$lvl"
  kill -TERM $tppid; wait $tppid || true
done

{
  echo "| proxy | req/s | transfer/s | p99 | requests | audit records durable |"
  echo "|---|---|---|---|---|---|"
  IFS='|' read -r a b c d <<< "$(summary "$tmp/wrk-bootgate.txt")"; echo "| bootgate explicit proxy | $a | $b | $c | $d | $bg_records |"
  for lvl in Info Warning; do IFS='|' read -r a b c d <<< "$(summary "$tmp/wrk-tinyproxy-$lvl.txt")"; echo "| tinyproxy ($lvl) | $a | $b | $c | $d | - |"; done
} | tee "$tmp/table.md"


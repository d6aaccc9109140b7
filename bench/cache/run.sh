#!/bin/bash
# bench/cache/run.sh — bootgate's edge cache vs nginx with LanCache's configuration, same run, same origin, same
# namespaces (issue 14):
#
#   client ns ──veth── server ns: bootgate (explicit proxy + edge cache, :3128) | nginx 1.22 (:8080) ──veth── WAN ns: origin
#
# nginx is configured as LanCache's monolithic image configures it: `slice 1m`, the cache key without the host
# (`$uri$slice_range`; LanCache prefixes $cacheidentifier, one service here), `proxy_cache_lock on` with LanCache's
# lock age/timeout, 200/206 valid for years, Range to the upstream from $slice_range, HTTP/1.1 keep-alive upstream.
# The origin is test/helpers/cache-wan-origin.ts (Range support, counts bytes sent per request). bootgate is
# bench/cache/cache-server.ts (the real HttpProxy + EdgeCache; every delivery one audit record, group-committed
# with fdatasync before the response completes). Both caches write to the same filesystem under $OUT.
#
# Phases, each run for both caches (bootgate first in odd rounds, nginx first in even ones):
#   hit   — a HIT_MB file is fetched once (fills the cache), then HIT_N clients download it concurrently; the
#           aggregate throughput is HIT_N × size / wall time (origin bytes must be 0 for this phase)
#   cold  — COLD_N clients start at once on a cold COLD_MB file: origin bytes and the time until the last completes
#
# Run as root from the repository root:  bash bench/cache/run.sh
#   env: HIT_MB=1024 HIT_N=50 COLD_MB=256 COLD_N=100 ROUNDS=1 OUT=/tmp/bgcache-bench
#        (docs/benchmarks.md: HIT_N=20 COLD_MB=128 ROUNDS=2, and the defaults once — nginx fails 12 of 50 at
#        HIT_N=50 here, EMFILE at this box's hard limit of 20,000 descriptors)
# results.tsv: per phase the wall time, MiB/s received, origin bytes and requests, the server's CPU seconds (user +
# system of its process group, /proc) and the 1-minute load average when the phase began.
#        BENCH_VERIFY=0 (bootgate without the SHA-256 re-check of each slice on read)
#        BG_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (extra node flags for bootgate: profiling)
#        ONLY=bootgate or ONLY=nginx (one cache only, for profiling); PHASES=cold (or hit) for one phase
# Namespaces bgc21b-srv/-cli/-wan (10.121.0.0/24 client side, 10.121.1.0/24 WAN), deleted on exit.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/bgcache-bench}
HIT_MB=${HIT_MB:-1024}; HIT_N=${HIT_N:-50}; COLD_MB=${COLD_MB:-256}; COLD_N=${COLD_N:-100}; ROUNDS=${ROUNDS:-1}
NS_SRV=bgc21b-srv; NS_CLI=bgc21b-cli; NS_WAN=bgc21b-wan
SRV_IP=10.121.0.1; CLI_IP=10.121.0.2; WAN_IP=10.121.1.1
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"; CW="ip netns exec $NS_WAN"
RUN=$OUT/run
for t in nginx curl node; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done

net_down() { for n in $NS_CLI $NS_WAN $NS_SRV; do ip netns del $n 2>/dev/null; done; return 0; }
net_up() {
  net_down
  ip netns add $NS_SRV; ip netns add $NS_CLI; ip netns add $NS_WAN
  for n in $NS_SRV $NS_CLI $NS_WAN; do ip -n $n link set lo up; done
  ip link add bgc21b-c0 netns $NS_CLI type veth peer name bgc21b-c0 netns $NS_SRV
  ip -n $NS_SRV addr add $SRV_IP/24 dev bgc21b-c0; ip -n $NS_SRV link set bgc21b-c0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bgc21b-c0; ip -n $NS_CLI link set bgc21b-c0 up
  ip link add bgc21b-w0 netns $NS_SRV type veth peer name bgc21b-w0 netns $NS_WAN
  ip -n $NS_SRV addr add 10.121.1.2/24 dev bgc21b-w0; ip -n $NS_SRV link set bgc21b-w0 up
  ip -n $NS_WAN addr add $WAN_IP/24 dev bgc21b-w0; ip -n $NS_WAN link set bgc21b-w0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && $CS ping -c1 -W1 -q $WAN_IP >/dev/null 2>&1 && break; sleep 0.1; done
}

PGIDS=()
start_srv() {   # start_srv <name> <netns> <command string>: setsid in that namespace; PID = PGID
  ip netns exec $2 setsid bash -c "$3" > $RUN/$1.out 2> $RUN/$1.err < /dev/null &
  echo $! > $RUN/$1.pid; PGIDS+=($!)
}
stop_srv() {
  local f=$RUN/$1.pid; [ -f $f ] || return 0
  local p=$(cat $f); kill -TERM -- -$p 2>/dev/null
  for i in $(seq 50); do kill -0 -- -$p 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -$p 2>/dev/null; rm -f $f; return 0
}
cleanup() { for p in "${PGIDS[@]}"; do kill -KILL -- -$p 2>/dev/null; done; net_down; }
trap cleanup EXIT

wait_line() { for i in $(seq 300); do grep -q "$2" $RUN/$1.out 2>/dev/null && return 0; sleep 0.1; done; echo "$1 did not start: $(cat $RUN/$1.err)" >&2; exit 1; }
origin_bytes() { $CW curl -s http://$WAN_IP/__stats | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).requests.filter(q=>!q.path.startsWith("/__"));console.log(r.reduce((n,q)=>n+q.bytes,0)+" "+r.length)})'; }
# cpu_ticks <name>: user+system clock ticks (1/100 s) of every process in that server's process group so far
cpu_ticks() { local g=$(cat $RUN/$1.pid) t=0 p; for p in $(ps -o pid= -g $g); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
origin_reset() { $CW curl -s -X POST http://$WAN_IP/__reset >/dev/null; }

# curl_args <cache> <path>: how a client reaches the object through that cache
curl_args() {
  case $1 in
    bootgate) echo "-x http://$SRV_IP:3128 http://dl.cdn.test$2" ;;
    nginx) echo "-H Host:dl.cdn.test http://$SRV_IP:8080$2" ;;
  esac
}

# storm <cache> <path> <n> <bytes>: n concurrent downloads; prints wall seconds and bytes received; reports short downloads
storm() {
  local args=$(curl_args $1 $2) t0 t1 bad
  rm -f $RUN/storm.*
  t0=$(date +%s.%N)
  local pids=()
  for i in $(seq $3); do $CC curl -s --max-time 600 -o /dev/null -w '%{http_code} %{size_download}\n' $args > $RUN/storm.$i & pids+=($!); done
  wait "${pids[@]}"   # the clients only: the servers are children of this shell too
  t1=$(date +%s.%N)
  bad=$(cat $RUN/storm.* | awk -v sz=$4 '!($1==200 && $2==sz)' | wc -l)
  [ "$bad" = 0 ] || { echo "$1: $bad of $3 downloads incomplete: $(cat $RUN/storm.* | sort | uniq -c | head -3)" >&2; }
  echo "$t0 $t1 $(cat $RUN/storm.* | awk '{n+=$2} END{printf "%.0f", n}')" | awk '{printf "%.2f %.0f", $2-$1, $3}'
}

# measure <cache> <round> <phase> <path> <clients> <MiB>: one storm with the load, the server's CPU and the origin's bytes
measure() {
  local load c0 cpu wall got ob oreq
  origin_reset
  load=$(cut -d' ' -f1 /proc/loadavg); c0=$(cpu_ticks $1)
  read wall got < <(storm $1 $4 $5 $(($6 * 1048576)))
  cpu=$(( $(cpu_ticks $1) - c0 ))
  read ob oreq < <(origin_bytes)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $2 $1 $3 $5 $6 $wall $(awk -v g=$got -v w=$wall 'BEGIN{printf "%.0f", g/1048576/w}') $((ob / 1048576)) $oreq $(awk -v c=$cpu 'BEGIN{printf "%.2f", c/100}') $load >> $OUT/results.tsv
  echo "round $2 $1 $3: $5 x $6 MiB in $wall s (load $load, server CPU $cpu ticks), origin $ob bytes in $oreq requests"
}

nginx_conf() {
  cat > $RUN/nginx.conf <<NGINX
user root;
worker_processes 2;
worker_rlimit_nofile $(ulimit -Hn);   # slice subrequests hold cache files open (at most the hard limit)
pid $RUN/nginx.pid;
error_log $RUN/nginx.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_timeout 65;
  # LanCache monolithic (lancachenet/monolithic: conf.d/20_proxy_cache_path.conf, sites-available/cache.conf.d)
  proxy_cache_path $OUT/nginx-cache levels=2:2 keys_zone=generic:500m inactive=200d max_size=40g loader_files=1000 loader_sleep=50ms loader_threshold=300ms use_temp_path=off;
  upstream origin { server $WAN_IP:80; keepalive 64; }
  server {
    listen $SRV_IP:8080 reuseport;
    location / {
      slice 1m;
      proxy_cache generic;
      proxy_cache_key \$uri\$slice_range;
      proxy_set_header Range \$slice_range;
      proxy_cache_valid 200 206 3650d;
      proxy_cache_lock on;
      proxy_cache_lock_age 2m;
      proxy_cache_lock_timeout 1h;
      proxy_ignore_headers Expires Cache-Control;
      proxy_cache_revalidate on;
      proxy_max_temp_file_size 40960m;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_pass http://origin;
    }
  }
}
NGINX
}

rm -rf $OUT; mkdir -p $RUN
net_up
head -c $((HIT_MB * 1048576)) /dev/urandom > $OUT/origin.bin
start_srv origin $NS_WAN "cd $REPO && exec node --import tsx test/helpers/cache-wan-origin.ts --host $WAN_IP --port 80 --file $OUT/origin.bin --small-mb $COLD_MB"
wait_line origin 'origin ready'
HIT_BYTES=$((HIT_MB * 1048576))
[ $COLD_MB -le $HIT_MB ] || { echo "COLD_MB must be <= HIT_MB" >&2; exit 2; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'round\tcache\tphase\tclients\tMiB_each\twall_s\tMiB_per_s_received\torigin_MiB\torigin_requests\tserver_cpu_s\tload1\n' > $OUT/results.tsv

for r in $(seq $ROUNDS); do
  # alternate the order round by round: the shared machine's load drifts, and a fixed order would favour one side
  order="bootgate nginx"; [ $((r % 2)) = 0 ] && order="nginx bootgate"
  for c in ${ONLY:-$order}; do
    rm -rf $OUT/bg-state $OUT/nginx-cache; mkdir -p $OUT/bg-state $OUT/nginx-cache
    if [ $c = bootgate ]; then
      start_srv bootgate $NS_SRV "cd $REPO && exec node ${BG_NODE_ARGS:-} --import tsx bench/cache/cache-server.ts --host $SRV_IP --port 3128 --dir $OUT/bg-state --allow 10.121.1.0/24 --hosts dl.cdn.test=$WAN_IP"
      wait_line bootgate 'cache ready'
    else
      nginx_conf
      start_srv nginx $NS_SRV "exec nginx -c $RUN/nginx.conf -g 'daemon off;'"
      sleep 1
    fi
    # hit: fill once, then HIT_N concurrent
    if [[ " ${PHASES:-hit cold} " == *" hit "* ]]; then
      origin_reset
      storm $c /hit/r$r.bin 1 $HIT_BYTES > /dev/null
      measure $c $r hit /hit/r$r.bin $HIT_N $HIT_MB
    fi
    # cold storm: /small/ paths are the first COLD_MB of the file (the origin's --small-mb)
    if [[ " ${PHASES:-hit cold} " == *" cold "* ]]; then measure $c $r cold /small/r$r.bin $COLD_N $COLD_MB; fi
    stop_srv $c
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
column -t $OUT/results.tsv

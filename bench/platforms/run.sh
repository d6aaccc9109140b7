#!/bin/bash
# bench/platforms/run.sh — the service platforms (src/platforms, issue 12): 302 decisions/s, placement quality on a
# burst, and reverse-proxy mode vs HAProxy vs direct, one run, same namespaces, same backends, rounds interleaved.
#
#   client ns (wrk) ──veth──┐
#                           br0 in the gateway ns: bootgate (HTTP boot port 8080: /svc + heartbeats; proxy port
#   backend ns ─────veth────┘   8090), HAProxy (balance leastconn) ── backend ns: nginx, 4 instances A–D (ports
#                               18101–18104, capacity 10/20/30/40, a 4 KiB file) and a heartbeat loop (curl, 1 s)
#
# Run as root from the repository root:  bash bench/platforms/run.sh      (~4–5 min)
#   env: ROUNDS=3  WRK_ARGS="-t2 -c50 -d10s"  WARMUP=2s (a wrk run before each measured one; 0 = none)
#        SEEDS=10 (placement)  HB_INTERVAL=1 (s between heartbeats)  PROXY_PORT=8090 (platforms.proxyPort)
#        PARTS="placement redirect proxy"  BG_NODE_ARGS="" (node flags for bootgate, e.g. "--cpu-prof --cpu-prof-dir=DIR")
#        OUT=/tmp/bgplat-bench  DOC=docs/bench/platforms.md (- = do not write)
# Parts:
#  1. redirect: bootgate with class game in redirect mode; wrk on /svc/game/file4k (wrk does not follow the 302,
#     so every request is one decision). Peer: HAProxy 1 thread answering a static 302 (no choice at all: what one
#     thread's HTTP 302 costs on this machine). Also the share of decisions per instance against capacity share.
#  2. placement: bench/platforms/placement.ts (the real PlatformRegistry vs leastconn on stale load and random).
#  3. proxy: bootgate with class game in proxy mode (http://<gw>:PROXY_PORT/svc/game/<path>; restarted on the same
#     data directory, so the same instances), HAProxy `balance leastconn` (Debian's default threads = CPUs, and
#     nbthread 1 as bootgate's one main thread), and wrk direct to instance A as the baseline. If bootgate refuses
#     `mode: proxy` (it does until the proxy mode is merged), that row is skipped and the output says why.
# Per measured run: wrk req/s, p50, p99, errors; the server's CPU (% of one core), the backend nginx's, wrk's, and
# the whole machine's busy time (so what other processes took is known: the machine is shared).
# Servers run under setsid and are stopped by their own PGID; the namespaces are deleted on exit.
# Results: $OUT/results.tsv, $OUT/placement.tsv, $OUT/summary.md (printed); the same figures go between the
# markers of $DOC (text outside the markers is kept).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/bgplat-bench}
ROUNDS=${ROUNDS:-3}; WRK_ARGS=${WRK_ARGS:-"-t2 -c50 -d10s"}; WARMUP=${WARMUP:-2s}; SEEDS=${SEEDS:-10}
HB_INTERVAL=${HB_INTERVAL:-1}; PROXY_PORT=${PROXY_PORT:-8090}; PARTS=${PARTS:-"placement redirect proxy"}
DOC=${DOC:-$REPO/docs/bench/platforms.md}
NS_GW=bgplatb-gw; NS_CLI=bgplatb-cli; NS_BE=bgplatb-be
GW_IP=10.97.0.1; CLI_IP=10.97.0.2; BE_IP=10.97.0.50
HTTP_PORT=8080; API=127.0.0.1:18497; HAP_PORT=8091; HAP_REDIR_PORT=8092; HAP1_PORT=8093; HAP1_REDIR_PORT=8094
NAMES=(A B C D); CAPS=(10 20 30 40); BE_PORTS=(18101 18102 18103 18104); SESSIONS=(1 2 3 4)
CG="ip netns exec $NS_GW"; CC="ip netns exec $NS_CLI"; CB="ip netns exec $NS_BE"
DATA=$OUT/data; RUN=$OUT/run; LOGS=$OUT/logs
rm -rf $RUN $LOGS; mkdir -p $DATA $RUN $LOGS
chmod 755 $OUT $DATA $RUN   # nginx workers run as nobody
TSV=$OUT/results.tsv; NOTES=$OUT/notes.txt; : > $NOTES
note() { echo "$*" | tee -a $NOTES; }

for t in wrk nginx haproxy curl python3 node /usr/bin/time; do command -v $t >/dev/null || { echo "missing $t (bash scripts/install-system-deps.sh)" >&2; exit 2; }; done

net_down() { for n in $NS_CLI $NS_BE $NS_GW; do ip netns del $n 2>/dev/null; done; return 0; }
net_up() {
  net_down
  ip netns add $NS_GW; ip netns add $NS_CLI; ip netns add $NS_BE
  for n in $NS_GW $NS_CLI $NS_BE; do ip -n $n link set lo up; done
  ip -n $NS_GW link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_GW addr add $GW_IP/24 dev br0; ip -n $NS_GW link set br0 up
  ip link add bgplatb-c0 netns $NS_CLI type veth peer name bgplatb-c0br netns $NS_GW
  ip -n $NS_GW link set bgplatb-c0br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bgplatb-c0; ip -n $NS_CLI link set bgplatb-c0 up
  ip link add bgplatb-b0 netns $NS_BE type veth peer name bgplatb-b0br netns $NS_GW
  ip -n $NS_GW link set bgplatb-b0br master br0 up
  ip -n $NS_BE addr add $BE_IP/24 dev bgplatb-b0; ip -n $NS_BE link set bgplatb-b0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $GW_IP >/dev/null 2>&1 && $CB ping -c1 -W1 -q $GW_IP >/dev/null 2>&1 && break; sleep 0.1; done
}

start_srv() {   # start_srv <name> <netns> <command string>: setsid in that namespace; PID = PGID
  ip netns exec $2 setsid bash -c "$3" > $RUN/$1.out 2> $RUN/$1.err < /dev/null &
  echo $! > $RUN/$1.pid
}
grp_alive() { ps -e -o pgid=,stat= | awk -v g=$1 '$1==g && $2!~/^Z/{f=1} END{exit !f}'; }
stop_srv() {
  local f=$RUN/$1.pid; [ -f $f ] || return 0
  local p; p=$(cat $f)
  kill -TERM -- -$p 2>/dev/null
  for i in $(seq 100); do grp_alive $p || break; sleep 0.1; done
  grp_alive $p && kill -KILL -- -$p 2>/dev/null
  wait $p 2>/dev/null; rm -f $f
}
cleanup() { set +e; for s in hb bootgate haproxy haproxy1t nginx; do stop_srv $s; done; net_down; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# wait_tcp <netns> <host> <port> [server name: give up early if it died]
wait_tcp() {
  for i in $(seq 200); do
    ip netns exec $1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    if [ -n "${4:-}" ] && ! kill -0 "$(cat $RUN/$4.pid 2>/dev/null)" 2>/dev/null; then return 2; fi
    sleep 0.1
  done
  return 1
}
ticks() { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null || echo 0; }
main_ticks() { awk '{print $14+$15}' /proc/$1/task/$1/stat 2>/dev/null || echo 0; }   # the main thread only
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
machine_irq() { awk '/^cpu /{print $7+$8}' /proc/stat; }   # irq + softirq: the kernel's network work, not charged to a process

# ---- machine state
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "build: $(git -C $REPO rev-parse --short HEAD) ($(git -C $REPO rev-parse --abbrev-ref HEAD))$(git -C $REPO diff --quiet HEAD -- src || echo ', src modified')"
  echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel: $(uname -r); node $(node -v); $(haproxy -v | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | cut -d/ -f2); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "uptime before: $(uptime)"
  echo "busiest processes before (top, a 1 s sample):"
  top -b -n2 -d1 -w 160 | awk '/^top -/{n++} n==2' | sed -n '3p;7,12p' | sed 's/^/    /'
} > $OUT/machine.txt
cat $OUT/machine.txt

# ---- part 2: placement (no network)
if [[ " $PARTS " == *" placement "* ]]; then
  echo "== placement: 1,000 requests between two heartbeats, $SEEDS seeds"
  (cd $REPO && node --import tsx bench/platforms/placement.ts --seeds $SEEDS --tsv $OUT/placement.tsv) | tee $OUT/placement.md
else
  rm -f $OUT/placement.md $OUT/placement.tsv
fi
[[ " $PARTS " == *" redirect "* || " $PARTS " == *" proxy "* ]] || { python3 $REPO/bench/platforms/report.py $OUT "$DOC"; exit 0; }

# ---- network, backends, HAProxy
[ -f $DATA/file4k ] || head -c 4096 /dev/urandom > $DATA/file4k
chmod 644 $DATA/file4k
net_up
mkdir -p $RUN/nginx-tmp
{
  echo "worker_processes 1; pid $RUN/nginx.pidfile; error_log $RUN/nginx-error.log warn; daemon off;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  echo "  types { } default_type application/octet-stream;"
  echo "  sendfile on; keepalive_timeout 65; keepalive_requests 100000; access_log off;"
  echo "  client_body_temp_path $RUN/nginx-tmp/body; proxy_temp_path $RUN/nginx-tmp/proxy;"
  echo "  fastcgi_temp_path $RUN/nginx-tmp/fcgi; uwsgi_temp_path $RUN/nginx-tmp/uwsgi; scgi_temp_path $RUN/nginx-tmp/scgi;"
  for p in "${BE_PORTS[@]}"; do echo "  server { listen $BE_IP:$p; root $DATA; }"; done
  echo "}"
} > $RUN/nginx.conf
start_srv nginx $NS_BE "exec nginx -c $RUN/nginx.conf"
for p in "${BE_PORTS[@]}"; do wait_tcp $NS_CLI $BE_IP $p nginx || { echo "nginx not up on $p" >&2; cat $RUN/nginx.err; exit 1; }; done

haproxy_cfg() {   # haproxy_cfg <nbthread or ""> <proxy port> <redirect port>
  echo "global"
  echo "  maxconn 4000"
  [ -n "$1" ] && echo "  nbthread $1"
  echo "defaults"
  echo "  mode http"
  echo "  timeout connect 5s"
  echo "  timeout client 60s"
  echo "  timeout server 60s"
  echo "  timeout http-keep-alive 60s"
  echo "frontend game_proxy"
  echo "  bind $GW_IP:$2"
  echo "  http-request replace-path ^/svc/game/(.*) /\\1"
  echo "  default_backend game"
  echo "frontend game_redirect"
  echo "  bind $GW_IP:$3"
  echo "  http-request redirect code 302 location http://$BE_IP:${BE_PORTS[0]}%[path,regsub(^/svc/game,)]"
  echo "backend game"
  echo "  balance leastconn"
  for i in 0 1 2 3; do echo "  server ${NAMES[i]} $BE_IP:${BE_PORTS[i]} weight ${CAPS[i]}"; done
}
haproxy_cfg "" $HAP_PORT $HAP_REDIR_PORT > $RUN/haproxy.cfg
haproxy_cfg 1 $HAP1_PORT $HAP1_REDIR_PORT > $RUN/haproxy1t.cfg
for h in haproxy haproxy1t; do
  haproxy -c -q -f $RUN/$h.cfg || { echo "bad $h config" >&2; cat $RUN/$h.cfg; exit 1; }
  start_srv $h $NS_GW "exec haproxy -db -f $RUN/$h.cfg"
done
wait_tcp $NS_CLI $GW_IP $HAP_PORT haproxy && wait_tcp $NS_CLI $GW_IP $HAP1_PORT haproxy1t || { cat $RUN/haproxy*.err; exit 1; }

# ---- bootgate
mkdir -p $RUN/tftp
bootgate_cfg() {   # bootgate_cfg <mode>
  cat <<EOF
dataDir: $RUN/bg-data
interfaces: { lan: br0 }
log: { level: info }
dhcp: { subnet: 10.97.0.0/24, range: { start: 10.97.0.100, end: 10.97.0.150 }, router: $GW_IP, dns: [$GW_IP], leaseSeconds: 600 }
tftp: { root: $RUN/tftp }
http: { port: $HTTP_PORT }
api: { listen: "$API" }
platforms:
  classes: { game: { mode: $1 } }
EOF
  [ "$1" = proxy ] && [ "$PROXY_PORT" != 8090 ] && echo "  proxyPort: $PROXY_PORT"
  return 0
}
bootgate_cfg redirect > $RUN/bootgate-redirect.yaml
bootgate_cfg proxy > $RUN/bootgate-proxy.yaml
start_bootgate() {   # start_bootgate <mode> <port to wait for>: 0 up, else down (reason in $RUN/bootgate.err)
  start_srv bootgate $NS_GW "cd $REPO && exec node ${BG_NODE_ARGS:-} bin/bootgate.js serve -c $RUN/bootgate-$1.yaml"
  wait_tcp $NS_CLI $GW_IP $2 bootgate && wait_tcp $NS_GW 127.0.0.1 ${API#*:} bootgate
}
bgcli() { $CG node $REPO/bin/bootgate.js -c $RUN/bootgate-redirect.yaml "$@"; }
start_bootgate redirect $HTTP_PORT || { echo "bootgate did not start" >&2; cat $RUN/bootgate.out $RUN/bootgate.err | tail -20; exit 1; }
IDS=(); TOKENS=()
for i in 0 1 2 3; do
  o=$(bgcli platforms add --class game --name ${NAMES[i]} --url http://$BE_IP:${BE_PORTS[i]}/ --capacity ${CAPS[i]}) || { echo "platforms add failed: $o" >&2; exit 1; }
  IDS+=("$(sed -n 's/^id: //p' <<< "$o")"); TOKENS+=("$(sed -n 's/^token: //p' <<< "$o")")
done
{
  echo "while :; do"
  for i in 0 1 2 3; do
    echo "  curl -s -o /dev/null -w '%{http_code}\n' -m 1 -X POST -H 'authorization: Bearer ${TOKENS[i]}' -H 'content-type: application/json'" \
      "--data '{\"activeSessions\":${SESSIONS[i]},\"cpu\":0.2,\"memory\":0.3}' http://$GW_IP:$HTTP_PORT/api/v1/platforms/${IDS[i]}/heartbeat"
  done
  echo "  sleep $HB_INTERVAL"
  echo "done"
} > $RUN/heartbeat.sh
start_srv hb $NS_BE "exec bash $RUN/heartbeat.sh"
for i in $(seq 100); do
  n=$(bgcli platforms list --json | python3 -c 'import json,sys; print(sum(r["health"]["status"]=="healthy" for r in json.load(sys.stdin)))')
  [ "$n" = 4 ] && break; sleep 0.2
done
[ "$n" = 4 ] || { echo "instances never all healthy" >&2; bgcli platforms list; exit 1; }
bgcli platforms list

decisions() { bgcli platforms list --json | python3 -c 'import json,sys; print(" ".join("%s=%d" % (r["name"], r["decisions"]) for r in json.load(sys.stdin)))'; }
check_302() {   # check_302 <url>
  local r; r=$($CC curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$1")
  [[ "$r" =~ ^302\ http://$BE_IP:181[0-9][0-9]/file4k$ ]] || { echo "$1 answered '$r', not a 302 to an instance" >&2; return 1; }
}
check_200() {   # check_200 <url>
  local r; r=$($CC curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$1")
  [ "$r" = "200 4096" ] || { echo "$1 answered '$r', not 200 with 4096 bytes" >&2; return 1; }
}
echo -e "# part\tlabel\tround\treq/s\tp50_ms\tp99_ms\trequests\terrors\tserver_cpu_pct\tbackend_cpu_pct\twrk_cpu_pct\tmachine_busy_pct\tloadavg1\tserver_main_thread_pct\tmachine_irq_softirq_pct" > $TSV
# measure <part> <label> <round> <url> <server name>
measure() {
  local f=$LOGS/$1-$2-$3 spid bpid s0 s1 b0 b1 m0 m1 t0 t1 h0 h1 q0 q1
  [ "$WARMUP" != 0 ] && $CC wrk -t2 -c50 -d$WARMUP "$4" > $f-warmup.txt 2>&1
  spid=$(pid_of $5); bpid=$(pid_of nginx)
  s0=$(ticks $spid); h0=$(main_ticks $spid); b0=$(ticks $bpid); m0=$(machine_busy); q0=$(machine_irq); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o $f-wrkcpu.txt $CC wrk $WRK_ARGS --latency "$4" > $f-wrk.txt 2>&1
  s1=$(ticks $spid); h1=$(main_ticks $spid); b1=$(ticks $bpid); m1=$(machine_busy); q1=$(machine_irq); t1=$(date +%s.%N)
  # nginx's master does nothing; its worker is the child
  python3 - "$1" "$2" "$3" $f-wrk.txt $f-wrkcpu.txt $((s1 - s0)) $((b1 - b0)) $((m1 - m0)) $t0 $t1 "$(cut -d' ' -f1 /proc/loadavg)" $((h1 - h0)) $((q1 - q0)) <<'EOF' | tee -a $TSV
import re, sys
part, label, rnd, wrkf, cpuf, s, b, m, t0, t1, la, h, q = sys.argv[1:14]
hz, wall = 100.0, float(t1) - float(t0)
t = open(wrkf).read()
def ms(pct):
    x = re.search(r'\n\s+%s\s+([\d.]+)(us|ms|s)\b' % pct, t)
    return float(x.group(1)) * {'us': 1e-3, 'ms': 1, 's': 1e3}[x.group(2)]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
n = int(re.search(r'(\d+) requests in', t).group(1))
errs = []
x = re.search(r'Non-2xx or 3xx responses: (\d+)', t)
if x: errs.append('non2xx3xx=' + x.group(1))
x = re.search(r'Socket errors: (.*)', t)
if x: errs.append('socket(' + x.group(1).replace(' ', '') + ')')
u, sy = map(float, open(cpuf).read().split()[-2:])
pct = lambda ticks: 100.0 * int(ticks) / hz / wall
print('%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.0f\t%.0f' % (part, label, rnd, rps, ms('50%'), ms('99%'), n, ','.join(errs) or '-',
      pct(s), pct(b), 100.0 * (u + sy) / wall, pct(m), la, pct(h), pct(q)))
EOF
}
# nginx: measure the worker, not the master
NGINX_WORKER=$(pgrep -P "$(cat $RUN/nginx.pidfile)" | head -1); echo "$NGINX_WORKER" > $RUN/nginx-worker.pid
pid_of() { [ "$1" = nginx ] && cat $RUN/nginx-worker.pid || cat $RUN/$1.pid; }
order() {   # order <round> <labels…>: rotated by round, so drift in the machine's load hits every target alike
  local r=$1; shift; local a=("$@") n=$#
  for i in $(seq 0 $((n - 1))); do echo -n "${a[$(( (i + r - 1) % n ))]} "; done
}

# ---- part 1: 302 decisions
if [[ " $PARTS " == *" redirect "* ]]; then
  echo "== redirect: wrk $WRK_ARGS on /svc/game/file4k (decisions), $ROUNDS rounds"
  check_302 http://$GW_IP:$HTTP_PORT/svc/game/file4k && check_302 http://$GW_IP:$HAP1_REDIR_PORT/svc/game/file4k || exit 1
  $CC curl -sS -L -o /dev/null -w '%{http_code} %{size_download}' http://$GW_IP:$HTTP_PORT/svc/game/file4k | grep -qx '200 4096' || { echo "the 302 does not lead to the file" >&2; exit 1; }
  d0=$(decisions); hb0=$(grep -c . $RUN/hb.out)
  for round in $(seq $ROUNDS); do
    for label in $(order $round bootgate-302 haproxy-1t-static-302); do
      case $label in
        bootgate-302) measure redirect $label $round http://$GW_IP:$HTTP_PORT/svc/game/file4k bootgate ;;
        haproxy-1t-static-302) measure redirect $label $round http://$GW_IP:$HAP1_REDIR_PORT/svc/game/file4k haproxy1t ;;
      esac
    done
  done
  d1=$(decisions)
  echo "decisions before: $d0" > $OUT/decisions.txt; echo "decisions after: $d1" >> $OUT/decisions.txt
  echo "capacities: A=${CAPS[0]} B=${CAPS[1]} C=${CAPS[2]} D=${CAPS[3]}" >> $OUT/decisions.txt
  hb=$(tail -n +$((hb0 + 1)) $RUN/hb.out | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  echo "heartbeats during the redirect part (HTTP status × count): $hb" >> $OUT/decisions.txt
  cat $OUT/decisions.txt
fi

# ---- part 3: proxy mode vs HAProxy vs direct
if [[ " $PARTS " == *" proxy "* ]]; then
  PROXY_TARGETS="direct-A haproxy-leastconn haproxy-1t-leastconn"
  stop_srv bootgate
  if start_bootgate proxy $PROXY_PORT; then
    if check_200 http://$GW_IP:$PROXY_PORT/svc/game/file4k; then
      PROXY_TARGETS="bootgate-proxy $PROXY_TARGETS"
    else
      note "bootgate-proxy: skipped — bootgate started in proxy mode but http://$GW_IP:$PROXY_PORT/svc/game/file4k did not serve the file"
    fi
  else
    why=$(cat $RUN/bootgate.out $RUN/bootgate.err 2>/dev/null | grep -o 'proxy mode is not built yet[^"]*' | head -1)
    [ -n "$why" ] || why=$(tail -3 $RUN/bootgate.err $RUN/bootgate.out 2>/dev/null | tr '\n' ' ' | cut -c1-300)
    note "bootgate-proxy: skipped — bootgate refused or did not open :$PROXY_PORT with \`platforms.classes.game.mode: proxy\` ($why); HAProxy and direct measured only; rerun after the proxy mode is merged"
    stop_srv bootgate
  fi
  echo "== proxy: wrk $WRK_ARGS on a 4 KiB response, $ROUNDS rounds: $PROXY_TARGETS"
  check_200 http://$BE_IP:${BE_PORTS[0]}/file4k && check_200 http://$GW_IP:$HAP_PORT/svc/game/file4k && check_200 http://$GW_IP:$HAP1_PORT/svc/game/file4k || exit 1
  for round in $(seq $ROUNDS); do
    for label in $(order $round $PROXY_TARGETS); do
      case $label in
        bootgate-proxy) measure proxy $label $round http://$GW_IP:$PROXY_PORT/svc/game/file4k bootgate ;;
        haproxy-leastconn) measure proxy $label $round http://$GW_IP:$HAP_PORT/svc/game/file4k haproxy ;;
        haproxy-1t-leastconn) measure proxy $label $round http://$GW_IP:$HAP1_PORT/svc/game/file4k haproxy1t ;;
        direct-A) measure proxy $label $round http://$BE_IP:${BE_PORTS[0]}/file4k nginx ;;
      esac
    done
  done
fi
{
  echo "uptime after: $(uptime)"
  echo "busiest processes after (top, a 1 s sample; ours are stopped but for HAProxy and nginx):"
  top -b -n2 -d1 -w 160 | awk '/^top -/{n++} n==2' | sed -n '3p;7,12p' | sed 's/^/    /'
  echo "haproxy threads (Debian default = CPUs): $(awk '/^Threads/{print $2}' /proc/$(pid_of haproxy)/status) / with nbthread 1: $(awk '/^Threads/{print $2}' /proc/$(pid_of haproxy1t)/status)"
  [ -f $RUN/bootgate.pid ] && echo "bootgate peak RSS: $(awk '/VmHWM/{print $2, $3}' /proc/$(pid_of bootgate)/status)"
} >> $OUT/machine.txt
tail -3 $OUT/machine.txt
python3 $REPO/bench/platforms/report.py $OUT "$DOC"

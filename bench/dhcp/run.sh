#!/bin/bash
# DHCPv4 benchmark: bootgate, Kea (memfile, persist=true) and dnsmasq (with its lease file), side by side in
# one run, on the same network setup, measured with Kea's perfdhcp (the same workload as the team's peer
# baselines in /work/shared/bench-peers/dhcp-bench.sh). Run as root:
#
#     bash bench/dhcp/run.sh                 # or: npm run bench:dhcp
#     REPS=3 OUT=/tmp/x bash bench/dhcp/run.sh
#
# Setup: two network namespaces of its own, bgbench-srv (bridge br0 10.213.0.1/16, the server under test)
# and bgbench-cli (veth vcli0 10.213.0.2/16 onto br0, perfdhcp). perfdhcp acts as a relay (giaddr 10.213.0.2),
# pool 10.213.1.1-10.213.254.254, 600 s leases, 60,000 distinct clients. Every run starts a fresh server with
# an empty lease store on the same ext4-backed directory ($OUT/run). Namespaces are always deleted on exit;
# only the server process groups this script started are signalled (by PGID).
#
# Phases (repetition is the outer loop, so the three servers share the same stretch of machine time):
#   ladder  : for each server climb its rate list; a rate passes with < MAXDROP % drops (ACKs received vs
#             DISCOVERs sent) and achieved rate >= 95 % of target; a repetition stops after two consecutive
#             failures; its max is the highest passing rate.
#   latency : LAT_RATE DORA/s for LAT_SECS with `perfdhcp -x t` (per-exchange timestamps), from which p50/p99
#             of DISCOVER->OFFER and REQUEST->ACK are computed (perfdhcp 2.2 prints only avg/min/max/std).
#
# Environment (defaults in brackets):
#   OUT [/tmp/bootgate-bench]  REPS [2]  SECS [10]  CLIENTS [60000]  MAXDROP [2]
#   SERVERS ["bootgate kea dnsmasq"]   PHASES ["ladder latency"]   LAT_RATE [200]  LAT_SECS [10]
#   PHASES may also name "burst": one BURST_RATE [3000] run of BURST_SECS [5] per server with tcpdump on the client
#     veth, reporting how the server's replies are spaced (bursts of back-to-back replies overflow a client's
#     receive buffer); tcpdump's own cost makes these runs unsuitable for throughput figures.
#   RATES (one list for every server) or RATES_BOOTGATE / RATES_KEA / RATES_DNSMASQ
#   BOOTGATE_NODE_FLAGS (extra node flags for bootgate, e.g. --cpu-prof)
#   QUIET_WAIT [30]: before each run wait up to this many seconds for other processes on the box to go quiet
#   NICE [0]: run servers and perfdhcp with this nice level, set on their own scheduler autogroups (e.g. -10 on a box shared with other CPU-bound jobs;
#     same for all three servers). The server's run-queue wait (srv_rqwait_pct) shows how much it still waited.
#   DISTURBED [25]: a run during which other processes used more than this % of a core is repeated once
#     (failed ladder steps and all latency runs); the disturbed attempt stays in runs.tsv marked DISTURBED
# Output: $OUT/runs.tsv (one line per perfdhcp run), $OUT/maxrate.tsv, $OUT/summary.md, raw tool output
# and per-run server logs/metrics in $OUT/raw/.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/bootgate-bench}
REPS=${REPS:-2}; SECS=${SECS:-10}; CLIENTS=${CLIENTS:-60000}; MAXDROP=${MAXDROP:-2}
SERVERS=${SERVERS:-"bootgate kea dnsmasq"}; PHASES=${PHASES:-"ladder latency"}
LAT_RATE=${LAT_RATE:-200}; LAT_SECS=${LAT_SECS:-10}; BURST_RATE=${BURST_RATE:-3000}; BURST_SECS=${BURST_SECS:-5}
RATES_BOOTGATE=${RATES:-${RATES_BOOTGATE:-"2000 3000 3500 4000 4500 5000 5500 6000 6500 7000 8000"}}
RATES_KEA=${RATES:-${RATES_KEA:-"3000 4000 5000 6000 7000 8000 9000 10000 11000 12000 13000 14000"}}
RATES_DNSMASQ=${RATES:-${RATES_DNSMASQ:-"100 150 200 250 300 350 400 450 500 600"}}
BOOTGATE_NODE_FLAGS=${BOOTGATE_NODE_FLAGS:-}
QUIET_WAIT=${QUIET_WAIT:-30}; DISTURBED=${DISTURBED:-25}; NICE=${NICE:-0}

NS_SRV=bgbench-srv; NS_CLI=bgbench-cli
SRV_IP=10.213.0.1; CLI_IP=10.213.0.2
API=127.0.0.1:18443
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"
RUN=$OUT/run; RAW=$OUT/raw
TCK=$(getconf CLK_TCK)

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
for t in perfdhcp kea-dhcp4 dnsmasq node python3 curl ss; do command -v $t >/dev/null || die "$t not found"; done
[[ " $PHASES " == *" burst "* ]] && { command -v tcpdump >/dev/null || die "tcpdump not found (PHASES=burst)"; }
[ -f "$ROOT/build/Release/bootgate_net.node" ] || die "bootgate's native addon is not built (npm install in $ROOT)"

mkdir -p "$OUT" "$RUN" "$RAW"
exec 9>/run/lock/bgbench-dhcp.lock
flock -n 9 || die "another bench/dhcp/run.sh is running (lock /run/lock/bgbench-dhcp.lock)"

# ---- namespaces ----------------------------------------------------------------------------------------------
net_down() { ip netns del $NS_CLI 2>/dev/null; ip netns del $NS_SRV 2>/dev/null; return 0; }
net_up() {
  for n in $NS_SRV $NS_CLI; do
    if ip netns list | grep -qw "^$n"; then
      # we hold the lock, so this is left over from an aborted run: delete it, unless something still runs inside
      [ -n "$(ip netns pids $n 2>/dev/null)" ] && die "stale namespace $n still has processes: $(ip netns pids $n | tr '\n' ' ')"
      ip netns del $n
    fi
  done
  ip netns add $NS_SRV && ip netns add $NS_CLI || die "cannot create namespaces"
  ip -n $NS_SRV link set lo up; ip -n $NS_CLI link set lo up
  ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_SRV addr add $SRV_IP/16 dev br0
  ip -n $NS_SRV link set br0 up
  ip link add vcli0 netns $NS_CLI type veth peer name vcli0-br netns $NS_SRV
  ip -n $NS_SRV link set vcli0-br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/16 dev vcli0
  ip -n $NS_CLI link set vcli0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "veth never came up"
}

# ---- server processes (own process group via setsid; signalled by PGID only) ---------------------------------
SRV_PID=""
pid_alive() { local st; st=$(ps -o stat= -p $1 2>/dev/null) && [[ $st != Z* ]]; }
grp_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1==g && $2!~/^Z/{f=1} END{exit !f}'; }
start_srv() {   # start_srv <logfile> <command string>  (run with bash -c in $NS_SRV)
  $CS setsid nice -n $NICE bash -c "$2" > "$1" 2>&1 < /dev/null &
  SRV_PID=$!
  own_group $SRV_PID
}
# own_group <pid>: wait until setsid has run (until then the child is in our process group); with NICE set, also
# give its session's scheduler autogroup that nice value (with autogroups, a task's nice only counts inside its group)
own_group() {
  for i in $(seq 100); do
    if [ "$(ps -o pgid= -p $1 2>/dev/null | tr -d ' ')" = "$1" ]; then
      [ "$NICE" != 0 ] && [ -w /proc/$1/autogroup ] && echo $NICE > /proc/$1/autogroup 2>/dev/null
      return 0
    fi
    pid_alive $1 || return 0
    sleep 0.01
  done
}
stop_srv() {
  [ -n "$SRV_PID" ] || return 0
  local p=$SRV_PID
  kill -TERM -- -$p 2>/dev/null || kill -TERM $p 2>/dev/null
  for i in $(seq 100); do grp_alive $p || break; sleep 0.1; done
  if grp_alive $p; then kill -KILL -- -$p 2>/dev/null; echo "  (server pgid $p needed SIGKILL after 10 s)" >&2; fi
  wait $p 2>/dev/null; SRV_PID=""
}
CLI_PID=""
cleanup() {
  set +e
  if [ -n "$CLI_PID" ]; then kill -TERM -- -$CLI_PID 2>/dev/null || kill -TERM $CLI_PID 2>/dev/null; wait $CLI_PID 2>/dev/null; fi
  stop_srv; net_down; rm -rf "$RUN/bootgate-data"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the three servers -------------------------------------------------------------------------------------
KEA_CONF=$RUN/kea-dhcp4.json
cat > $KEA_CONF <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "br0" ] },
  "lease-database": { "type": "memfile", "persist": true, "name": "$RUN/kea-leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 600, "renew-timer": 300, "rebind-timer": 525,
  "subnet4": [ { "id": 1, "subnet": "10.213.0.0/16", "pools": [ { "pool": "10.213.1.1 - 10.213.254.254" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "$RUN/kea-dhcp4.log" } ] } ]
} }
EOF
BG_CONF=$RUN/bootgate.yaml
cat > $BG_CONF <<EOF
dataDir: $RUN/bootgate-data
interfaces: { lan: br0 }
log: { level: warn }
dhcp:
  subnet: 10.213.0.0/16
  range: { start: 10.213.1.1, end: 10.213.254.254 }
  leaseSeconds: 600
  rateLimit: { perMacPerSecond: 10, burst: 20 }
  # perfdhcp plays a relay for 60,000 clients from one Ethernet source: the bridge's storm control (on by default,
  # and meant to drop exactly that from a terminal) is off here, as Kea and dnsmasq have none
  starvation: { bridgeRateLimit: { perSourcePerSecond: 0 } }
  # perfdhcp relays from its own address (giaddr 10.213.0.2): a relayed request is served only from a relay agent
  relayAgents: [10.213.0.2]
api: { listen: $API }
# the appliance also starts TFTP and HTTP boot (idle here); they need an existing boot-file root
tftp: { root: $RUN/tftp-root }
EOF
mkdir -p $RUN/tftp-root

server_cmd() {   # the foreground command for a server, starting from an empty lease store
  case $1 in
    bootgate) echo "rm -rf $RUN/bootgate-data; cd $RUN; exec node $BOOTGATE_NODE_FLAGS $ROOT/bin/bootgate.js serve --config $BG_CONF" ;;
    kea)      echo "rm -f $RUN/kea-leases4.csv*; KEA_PIDFILE_DIR=$RUN KEA_LOCKFILE_DIR=$RUN exec kea-dhcp4 -c $KEA_CONF" ;;
    dnsmasq)  echo "rm -f $RUN/dnsmasq.leases; exec dnsmasq -k --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
 --pid-file=$RUN/dnsmasq.pidfile --log-facility=$RUN/dnsmasq.log --dhcp-leasefile=$RUN/dnsmasq.leases \
 --dhcp-range=10.213.1.1,10.213.254.254,255.255.0.0,10m --dhcp-lease-max=100000 --dhcp-authoritative --no-ping --quiet-dhcp" ;;
    *) die "unknown server $1" ;;
  esac
}
server_rates() { case $1 in bootgate) echo $RATES_BOOTGATE ;; kea) echo $RATES_KEA ;; dnsmasq) echo $RATES_DNSMASQ ;; esac; }

wait_ready() {   # wait_ready <server> <log>: UDP 67 bound (and for bootgate its API, which starts last)
  for i in $(seq 200); do
    pid_alive $SRV_PID || { echo "server $1 exited during start:" >&2; tail -20 "$2" >&2; return 1; }
    if $CS ss -Hlun 'sport = :67' | grep -q .; then
      [ "$1" != bootgate ] && return 0
      $CS ss -Hltn "sport = :${API##*:}" | grep -q . && return 0
    fi
    sleep 0.1
  done
  echo "server $1 never became ready" >&2; tail -20 "$2" >&2; return 1
}

# ---- counters ------------------------------------------------------------------------------------------------
rcvbuf_err() { ip netns exec $1 awk '/^Udp:/{ if (!h) { for (i=1;i<=NF;i++) c[$i]=i; h=1 } else print $c["RcvbufErrors"] }' /proc/net/snmp; }
grp_ticks() { ps -e -o pgid=,pid= | awk -v g=$1 '$1==g{print $2}' | while read p; do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null; done | awk '{s+=$1} END{print s+0}'; }
CPUACCT=/sys/fs/cgroup/cpuacct/cpuacct.usage; [ -r $CPUACCT ] || CPUACCT=""
cpuacct() { if [ -n "$CPUACCT" ]; then echo $(< $CPUACCT); else echo NA; fi; }   # ns used by every task on the box
sys_ticks() { awk '/^cpu /{busy=$2+$3+$4+$7+$8; tot=busy+$5+$6+$9; print busy, tot}' /proc/stat; }

RUNS=$OUT/runs.tsv; MAXR=$OUT/maxrate.tsv; BURSTS=$OUT/bursts.tsv
python3 -c "import sys; sys.path.insert(0,'$HERE'); import bench; print('#' + '\t'.join(bench.RUN_COLS))" > $RUNS
printf '#server\trep\tmaxrate\n' > $MAXR
printf '#server\trate\tstats\tcli_rcvbuf_err\n' > $BURSTS
{
  echo "date: $(date -Is)"; echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "node: $(node --version); perfdhcp: $(perfdhcp -v 2>&1 | head -1); kea-dhcp4: $(kea-dhcp4 -v 2>&1 | head -1); dnsmasq: $(dnsmasq --version | head -1)"
  echo "bootgate: $(cd $ROOT && git rev-parse --short HEAD 2>/dev/null)$(cd $ROOT && git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); src tree sha1 $(cd $ROOT && find src -type f | LC_ALL=C sort | xargs cat | sha1sum | cut -c1-12)"
  echo "lease store dir: $RUN on $(df -T $RUN | awk 'NR==2{print $2" "$1}')"
  echo "NICE=$NICE QUIET_WAIT=$QUIET_WAIT DISTURBED=$DISTURBED"
  echo "REPS=$REPS SECS=$SECS CLIENTS=$CLIENTS MAXDROP=$MAXDROP LAT_RATE=$LAT_RATE LAT_SECS=$LAT_SECS"
  echo "RATES_BOOTGATE=$RATES_BOOTGATE"; echo "RATES_KEA=$RATES_KEA"; echo "RATES_DNSMASQ=$RATES_DNSMASQ"
} > $OUT/env.txt
cat $OUT/env.txt

# one_run <server> <mode> <rate> <rep> <secs> [perfdhcp extra args]: prints the TSV line, returns 0 on pass
one_run() {
  local s=$1 mode=$2 r=$3 rep=$4 secs=$5; shift 5
  local tag=$RAW/$s-$mode-r$r-$rep$ATTEMPT
  local log=$tag.server.log
  LAST_TAG=$tag
  start_srv $log "$(server_cmd $s)"
  wait_ready $s $log || { stop_srv; return 1; }
  sleep 0.3
  local l0=$(grep -c . $log)   # log lines written during start-up (bootgate warns that no boot profile is configured)
  local srv0=$(rcvbuf_err $NS_SRV) cli0=$(rcvbuf_err $NS_CLI) st0=$(grp_ticks $SRV_PID) sy0
  sy0=$(sys_ticks)
  python3 $HERE/bench.py snap $tag.snap0 $SRV_PID $MYPGID
  echo "loadavg-before: $(cat /proc/loadavg)" > $tag.txt
  local cap=""
  if [ $mode = burst ]; then   # capture the server's replies as they reach the client's veth
    $CC tcpdump -i vcli0 -s 64 -U -w $tag.pcap "udp and src host $SRV_IP" > $tag.tcpdump.log 2>&1 &
    cap=$!; sleep 0.5
  fi
  local cg0=$(cpuacct) cg1 rq0 rq1
  rq0=$(awk '{print $2}' /proc/$SRV_PID/schedstat 2>/dev/null)
  # perfdhcp in its own process group, waited for with `wait` so that a signal to this script ends it at once
  $CC setsid nice -n $NICE /usr/bin/time -f 'perfdhcp-cpu %U %S %e' -o $tag.time perfdhcp -4 -l vcli0 -r $r -p $secs -R $CLIENTS "$@" all >> $tag.txt 2>&1 &
  CLI_PID=$!
  own_group $CLI_PID
  wait $CLI_PID; CLI_PID=""
  cg1=$(cpuacct)
  if [ -n "$cap" ]; then kill -INT $cap 2>/dev/null; wait $cap 2>/dev/null; fi
  rq1=$(awk '{print $2}' /proc/$SRV_PID/schedstat 2>/dev/null)
  local st1=$(grp_ticks $SRV_PID) sy1 srv1=$(rcvbuf_err $NS_SRV) cli1=$(rcvbuf_err $NS_CLI)
  sy1=$(sys_ticks)
  python3 $HERE/bench.py snap $tag.snap1 $SRV_PID $MYPGID
  local naks=NA
  if [ $s = bootgate ]; then
    $CS curl -s --max-time 5 http://$API/metrics > $tag.metrics 2>/dev/null
    naks=$(awk '/^bootgate_dhcp_packets_out_total\{type="NAK"\}/{n=$2} END{print n+0}' $tag.metrics)
  fi
  stop_srv
  local warn=NA
  [ $s = bootgate ] && warn=$(( $(grep -c . $log) - l0 ))   # warn/error lines logged under load and at stop
  [ -s $log ] || rm -f $log
  python3 - $HERE $tag $TCK "${rq0:-0}" "${rq1:-0}" "$cg0" "$cg1" "$st0" "$st1" "$sy0" "$sy1" "$srv0" "$srv1" "$cli0" "$cli1" "$naks" "$warn" > $tag.json <<'EOF'
import json, sys
here, tag, tck, rq0, rq1, cg0, cg1, st0, st1, sy0, sy1, srv0, srv1, cli0, cli1, naks, warn = sys.argv[1:]
sys.path.insert(0, here); import bench
tf = tag + '.time'
fticks, ftop = bench.foreign(tag + '.snap0', tag + '.snap1')
tck = float(tck); b0, t0 = map(float, sy0.split()); b1, t1 = map(float, sy1.split())
u = s = e = float('nan')
try:
    for line in open(tf):
        if line.startswith('perfdhcp-cpu'): _, u, s, e = line.split(); u, s, e = float(u), float(s), float(e)
except OSError: pass
el = e if e == e and e > 0 else float('nan')
print(json.dumps({
  'srv_cpu_pct': 100.0 * (float(st1) - float(st0)) / tck / el if el == el else None,
  'cli_cpu_pct': 100.0 * (u + s) / el if el == el else None,
  'sys_busy_pct': 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None,   # of all CPUs
  # every other process (kernel threads included), in % of one core: from the root cgroup's CPU usage (which
  # catches short-lived processes too) minus server and perfdhcp, else from per-process snapshots
  'foreign_cpu_pct': max(0.0, 100.0 * ((float(cg1) - float(cg0)) / 1e9 - (float(st1) - float(st0)) / tck - (u + s)) / el) if el == el and cg0 != 'NA'
                     else (100.0 * fticks / tck / el if el == el else None),
  'foreign_top': ['%s %.0f%%' % (k, 100.0 * v / tck / el) for k, v in ftop] if el == el else [],
  # time the server's main thread was runnable but waiting for a CPU, in % of the run
  'srv_rqwait_pct': 100.0 * (float(rq1) - float(rq0)) / 1e9 / el if el == el else None,
  'srv_rcvbuf_err': int(srv1) - int(srv0), 'cli_rcvbuf_err': int(cli1) - int(cli0),
  'srv_naks': naks, 'srv_warn_lines': warn}))
EOF
  rm -f $tag.snap0 $tag.snap1
  local line rc
  line=$(python3 $HERE/bench.py parse $tag.txt $s $mode $rep $r $MAXDROP $tag.json); rc=$?
  echo "$line" >> $RUNS
  echo "$line" | awk -F'\t' '{printf "  %-8s %-7s rep %s %6s/s -> %8s/s drops %6s%%  D-O avg %s ms  R-A avg %s ms  CPU srv/perfdhcp/other %s/%s/%s%%  srv rq-wait %s%%  rcvbuf srv/cli %s/%s  NAKs %s  %s\n", $1,$2,$3,$4,$5,$6,$11,$15,$19,$20,$21,$22,$24,$25,$26,$28}'
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); f=d['foreign_cpu_pct'] or 0; f>20 and print('    note: other processes used %.0f%% of a core during this run: %s' % (f, ', '.join(d['foreign_top'])))" $tag.json
  return $rc
}

# busy_sample <secs>: "<% of a core used by other processes> <top consumers>" over <secs>
busy_sample() {
  local c0 c1
  python3 $HERE/bench.py snap $RUN/q0 $MYPGID; c0=$(cpuacct); sleep $1; c1=$(cpuacct); python3 $HERE/bench.py snap $RUN/q1 $MYPGID
  python3 -c "import sys; sys.path.insert(0,'$HERE'); import bench; t,top=bench.foreign('$RUN/q0','$RUN/q1')
p = 100.0*t/$TCK/$1 if '$c0' == 'NA' else 100.0*($c1-$c0)/1e9/$1
print('%.0f %s' % (p, ', '.join('%s %.0f%%' % (k, 100.0*v/$TCK/$1) for k,v in top)))"
  rm -f $RUN/q0 $RUN/q1
}
# quiet_gate: the box is shared; before a run wait (up to QUIET_WAIT s) until other processes use < 15 % of a core
quiet_gate() {
  local t0=$(date +%s) p
  while :; do
    p=$(busy_sample 1)
    [ ${p%% *} -lt 15 ] && return 0
    if [ $(( $(date +%s) - t0 )) -ge $QUIET_WAIT ]; then echo "    note: box still busy after ${QUIET_WAIT}s (${p%% *}% of a core: ${p#* }); running anyway" >&2; return 0; fi
    sleep 2
  done
}
# measure: quiet_gate + one_run; a run disturbed by other processes (> DISTURBED % of a core) is repeated once
# if it failed (ladder) or always (latency); the disturbed line stays in runs.tsv marked DISTURBED.
measure() {
  local rc f
  ATTEMPT=""; quiet_gate; one_run "$@"; rc=$?
  f=$(python3 -c "import json,sys; print('%.0f' % (json.load(open(sys.argv[1])).get('foreign_cpu_pct') or 0))" $LAST_TAG.json 2>/dev/null || echo 0)
  if [ "$f" -gt $DISTURBED ] && { [ $2 = latency ] || [ $rc -ne 0 ]; }; then
    sed -i '$ s/\t\(PASS\|FAIL\)$/\tDISTURBED/' $RUNS
    echo "    repeating this run (disturbed by other processes)"
    ATTEMPT="-retry"; quiet_gate; one_run "$@"; rc=$?
  fi
  return $rc
}

MYPGID=$(ps -o pgid= -p $$ | tr -d ' ')
# preflight: the bench shares 2 cores with everything else on the box; say so if something else is busy
p=$(busy_sample 2)
echo "preflight: other processes used ${p%% *}% of a core while the bench was idle$([ ${p%% *} -gt 10 ] && echo " -- busy: ${p#* }")" | tee -a $OUT/env.txt
T0=$(date +%s)
net_up
for phase in $PHASES; do
  for rep in $(seq $REPS); do
    for s in $SERVERS; do
      if [ $phase = ladder ]; then
        echo "== ladder $s rep $rep =="
        best=0; fails=0
        for r in $(server_rates $s); do
          if measure $s ladder $r $rep $SECS; then best=$r; fails=0; else fails=$((fails+1)); [ $fails -ge 2 ] && break; fi
        done
        printf '%s\t%s\t%s\n' $s $rep $best >> $MAXR
        echo "  => $s rep $rep max $best/s"
      elif [ $phase = latency ]; then
        echo "== latency $s rep $rep @ $LAT_RATE/s =="
        measure $s latency $LAT_RATE $rep $LAT_SECS -x t
      elif [ $phase = burst ] && [ $rep = 1 ]; then
        echo "== reply pacing $s @ $BURST_RATE/s (tcpdump on the client veth) =="
        measure $s burst $BURST_RATE 1 $BURST_SECS
        printf '%s\t%s\t%s\t%s\n' $s $BURST_RATE "$(python3 $HERE/bench.py bursts $LAST_TAG.pcap)" \
          "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['cli_rcvbuf_err'])" $LAST_TAG.json)" | tee -a $BURSTS
        rm -f $LAST_TAG.pcap
      fi
    done
  done
done
echo "elapsed: $(( $(date +%s) - T0 )) s" | tee -a $OUT/env.txt
echo
python3 $HERE/bench.py summary $OUT $MAXDROP $DISTURBED | tee $OUT/summary.md

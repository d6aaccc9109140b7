#!/bin/bash
# bench/http/run.sh — bootgate's HTTP boot server vs nginx, same machine, same run, reps interleaved.
# Workloads (as ../shared/bench-peers/http-bench.sh measured nginx): one curl of a 1 GiB file; 50 concurrent
# curls of it (aggregate); wrk on a 4 KiB file.
#
# Run as root from the repository root:  sudo bash bench/http/run.sh
#   env: REPS=5 (single curl and wrk)  MULTI_REPS=3  MULTI_N=50  WRK_ARGS="-t2 -c50 -d10s"  OUT=/tmp/bghttp-bench
#        BG_ARGS="" (extra serve-http.ts flags, e.g. "--chunk-bytes 262144")
# Network: namespaces bghttp-srv (br0 10.72.0.1/24: both servers) and bghttp-cli (10.72.0.2/24 on a veth into
# br0: every client). Servers run under setsid; on exit they are stopped by their own PGID and the namespaces
# are deleted. Results: $OUT/results.tsv (label test rep value unit extra) and a summary with ratios on stdout.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/bghttp-bench}
REPS=${REPS:-5}; MULTI_REPS=${MULTI_REPS:-3}; MULTI_N=${MULTI_N:-50}; WRK_ARGS=${WRK_ARGS:-"-t2 -c50 -d10s"}
BG_ARGS=${BG_ARGS:-}
NS_SRV=bghttp-srv; NS_CLI=bghttp-cli
SRV_IP=10.72.0.1; CLI_IP=10.72.0.2
BG_PORT=8080; NG_PORT=8081
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"
DATA=$OUT/data; RUN=$OUT/run; LOGS=$OUT/logs
mkdir -p $DATA $RUN $LOGS
chmod 755 $OUT $DATA

for t in curl wrk nginx python3 node; do command -v $t >/dev/null || { echo "missing $t (apt-get install curl wrk nginx-light python3)" >&2; exit 2; }; done

net_down() { for n in $NS_CLI $NS_SRV; do ip netns del $n 2>/dev/null; done; return 0; }
net_up() {
  net_down
  ip netns add $NS_SRV; ip netns add $NS_CLI
  ip -n $NS_SRV link set lo up; ip -n $NS_CLI link set lo up
  ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_SRV addr add $SRV_IP/24 dev br0; ip -n $NS_SRV link set br0 up
  ip link add bghttp-c0 netns $NS_CLI type veth peer name bghttp-c0br netns $NS_SRV
  ip -n $NS_SRV link set bghttp-c0br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bghttp-c0; ip -n $NS_CLI link set bghttp-c0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && break; sleep 0.1; done
}

PGIDS=()
start_srv() {   # start_srv <name> <command string>: setsid in the server namespace; PID = PGID
  ip netns exec $NS_SRV setsid bash -c "$2" > $RUN/$1.out 2>&1 < /dev/null &
  echo $! > $RUN/$1.pid; PGIDS+=($!)
}
grp_alive() { ps -e -o pgid=,stat= | awk -v g=$1 '$1==g && $2!~/^Z/{f=1} END{exit !f}'; }
stop_srv() {
  local f=$RUN/$1.pid; [ -f $f ] || return 0
  local p=$(cat $f)
  kill -TERM -- -$p 2>/dev/null
  for i in $(seq 50); do grp_alive $p || break; sleep 0.1; done
  grp_alive $p && kill -KILL -- -$p 2>/dev/null
  wait $p 2>/dev/null; rm -f $f
}
cleanup() { set +e; stop_srv bootgate; stop_srv nginx; net_down; }
trap cleanup EXIT
wait_tcp() { for i in $(seq 100); do $CC bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0; sleep 0.1; done; echo "port $1:$2 never opened" >&2; return 1; }

[ -f $DATA/1g.bin ] || head -c 1G /dev/urandom > $DATA/1g.bin
[ -f $DATA/4k.bin ] || head -c 4096 /dev/urandom > $DATA/4k.bin
chmod 644 $DATA/*.bin
cat $DATA/1g.bin > /dev/null   # warm the page cache
SZ=$(stat -c %s $DATA/1g.bin)

# nginx exactly as the peer baseline: 2 workers (auto), sendfile, access log on.
mkdir -p $RUN/nginx-tmp
cat > $RUN/nginx.conf <<EOF
worker_processes auto;
pid $RUN/nginx.pidfile;
error_log $RUN/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  types { } default_type application/octet-stream;
  sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_timeout 65; keepalive_requests 100000;
  access_log $RUN/nginx-access.log;
  client_body_temp_path $RUN/nginx-tmp/body; proxy_temp_path $RUN/nginx-tmp/proxy;
  fastcgi_temp_path $RUN/nginx-tmp/fcgi; uwsgi_temp_path $RUN/nginx-tmp/uwsgi; scgi_temp_path $RUN/nginx-tmp/scgi;
  server { listen $SRV_IP:$NG_PORT; root $DATA; }
}
EOF
: > $RUN/nginx-access.log

net_up
start_srv nginx "exec nginx -c $RUN/nginx.conf"
start_srv bootgate "cd $REPO && exec node --import tsx bench/http/serve-http.ts --root $DATA --listen $SRV_IP --port $BG_PORT $BG_ARGS"
wait_tcp $SRV_IP $NG_PORT || { cat $RUN/nginx.out; exit 1; }
wait_tcp $SRV_IP $BG_PORT || { cat $RUN/bootgate.out; exit 1; }

TSV=$OUT/results.tsv
echo -e "# label\ttest\trep\tvalue\tunit\textra" > $TSV
now() { date +%s.%N; }
port_of() { [ $1 = bootgate ] && echo $BG_PORT || echo $NG_PORT; }
# alternate which server goes first in each rep, so drift in the shared machine's load hits both alike
order() { [ $(( $1 % 2 )) = 1 ] && echo "bootgate nginx" || echo "nginx bootgate"; }

for rep in $(seq $REPS); do
  for label in $(order $rep); do
    r=$($CC curl -sS -o /dev/null -w '%{size_download} %{time_total}' http://$SRV_IP:$(port_of $label)/1g.bin)
    python3 -c "n,t='$r'.split();print('$label\tcurl-1x1GiB\t$rep\t%.1f\tMB/s\tbytes_ok=%s'%(int(n)/1e6/float(t),int(n)==$SZ))" | tee -a $TSV
  done
done
for rep in $(seq $MULTI_REPS); do
  for label in $(order $rep); do
    s=$(now)
    $CC bash -c "for i in \$(seq $MULTI_N); do curl -sS -o /dev/null -w '%{size_download}\n' http://$SRV_IP:$(port_of $label)/1g.bin & done; wait" > $LOGS/$label-multi-$rep.txt 2>&1
    e=$(now)
    ok=$(grep -cx $SZ $LOGS/$label-multi-$rep.txt)
    python3 -c "t=$e-$s;print('$label\tcurl-${MULTI_N}x1GiB-aggregate\t$rep\t%.1f\tMB/s\twall=%.2fs complete=$ok/$MULTI_N'%($MULTI_N*$SZ/1e6/t,t))" | tee -a $TSV
  done
done
for rep in $(seq $REPS); do
  for label in $(order $rep); do
    $CC wrk $WRK_ARGS --latency http://$SRV_IP:$(port_of $label)/4k.bin > $LOGS/$label-wrk-$rep.txt 2>&1
    python3 - $LOGS/$label-wrk-$rep.txt <<EOF | tee -a $TSV
import re,sys
t=open(sys.argv[1]).read()
rps=re.search(r'Requests/sec:\s+([\d.]+)',t).group(1)
p99=re.search(r'99%\s+([\d.]+)(us|ms|s)',t); f={'us':1e-3,'ms':1,'s':1e3}[p99.group(2)]
err=re.search(r'Socket errors:.*|Non-2xx.*',t)
print('$label\twrk-4KiB\t$rep\t%s\treq/s\tp99=%.2fms %s'%(rps,float(p99.group(1))*f,err.group(0) if err else ''))
EOF
  done
done
BG_PID=$(cat $RUN/bootgate.pid)
echo "bootgate peak RSS: $(awk '/VmHWM/{print $2, $3}' /proc/$BG_PID/status 2>/dev/null)" | tee $OUT/bootgate-rss.txt

python3 - $TSV <<'EOF' | tee $OUT/summary.txt
import sys,statistics as st,collections
rows=[l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('#')]
v=collections.defaultdict(list)
for label,test,rep,val,unit,extra in rows: v[(test,label)].append(float(val)); 
units={r[1]:r[4] for r in rows}
print('test\tbootgate median [min..max]\tnginx median [min..max]\tratio (medians)')
for test in dict.fromkeys(r[1] for r in rows):
    b=v[(test,'bootgate')]; n=v[(test,'nginx')]
    f=lambda x:'%.0f [%.0f..%.0f] n=%d'%(st.median(x),min(x),max(x),len(x))
    print('%s (%s)\t%s\t%s\t%.2f'%(test,units[test],f(b),f(n),st.median(b)/st.median(n)))
EOF

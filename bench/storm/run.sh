#!/bin/bash
# bench/storm/run.sh — the HTTP part of a boot storm (issue 16 §3): N simulated terminals start at once, each
# fetching its iPXE script, then kernel + initrd over HTTP, then reporting /booted. Servers, same run, same files:
#   bootgate        the HTTP boot server, admission off
#   bootgate-adm    the same with admission control (bound ADM, poll POLL s), released on /booted
#   nginx           the peer: a static script naming the same kernel and initrd
# Run as root from the repository root:  sudo bash bench/storm/run.sh
#   env: NS="50 100 200"  REPS=2  KERNEL_MB=8  INITRD_MB=24  ADM=8  POLL=1  OUT=/tmp/bgs21-storm
# Not yet in it: DHCP DORA, TFTP and the iSCSI working-set burst (docs/benchmarks.md says why).
# Network: namespaces bgs21-srv (br0 10.223.16.1/24) and bgs21-cli (10.223.16.2/24 on a veth into br0). Servers run
# under setsid and are stopped by their own PGID; the namespaces are deleted on exit.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/bgs21-storm}
NS=${NS:-"50 100 200"}; REPS=${REPS:-2}; KERNEL_MB=${KERNEL_MB:-8}; INITRD_MB=${INITRD_MB:-24}; ADM=${ADM:-8}; POLL=${POLL:-1}
NS_SRV=bgs21-srv; NS_CLI=bgs21-cli
SRV_IP=10.223.16.1; CLI_IP=10.223.16.2
BG_PORT=8080; ADM_PORT=8082; NG_PORT=8081
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"
DATA=$OUT/data; RUN=$OUT/run
mkdir -p $DATA $RUN; chmod 755 $OUT $DATA
for t in nginx node python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done

net_down() { for n in $NS_CLI $NS_SRV; do ip netns del $n 2>/dev/null; done; return 0; }
net_up() {
  net_down
  ip netns add $NS_SRV; ip netns add $NS_CLI
  ip -n $NS_SRV link set lo up; ip -n $NS_CLI link set lo up
  ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_SRV addr add $SRV_IP/24 dev br0; ip -n $NS_SRV link set br0 up
  ip link add bgs21-c0 netns $NS_CLI type veth peer name bgs21-c0br netns $NS_SRV
  ip -n $NS_SRV link set bgs21-c0br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bgs21-c0; ip -n $NS_CLI link set bgs21-c0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && break; sleep 0.1; done
}
start_srv() { ip netns exec $NS_SRV setsid bash -c "$2" > $RUN/$1.out 2>&1 < /dev/null & echo $! > $RUN/$1.pid; }
grp_alive() { ps -e -o pgid=,stat= | awk -v g=$1 '$1==g && $2!~/^Z/{f=1} END{exit !f}'; }
stop_srv() {
  local f=$RUN/$1.pid; [ -f $f ] || return 0
  local p=$(cat $f)
  kill -TERM -- -$p 2>/dev/null
  for i in $(seq 50); do grp_alive $p || break; sleep 0.1; done
  grp_alive $p && kill -KILL -- -$p 2>/dev/null
  wait $p 2>/dev/null; rm -f $f
}
cleanup() { set +e; stop_srv bootgate; stop_srv bootgate-adm; stop_srv nginx; net_down; }
trap cleanup EXIT
wait_tcp() { for i in $(seq 100); do $CC bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0; sleep 0.1; done; echo "port $1:$2 never opened" >&2; return 1; }

[ "$(stat -c %s $DATA/vmlinuz 2>/dev/null)" = $((KERNEL_MB << 20)) ] || head -c $((KERNEL_MB << 20)) /dev/urandom > $DATA/vmlinuz
[ "$(stat -c %s $DATA/initrd.gz 2>/dev/null)" = $((INITRD_MB << 20)) ] || head -c $((INITRD_MB << 20)) /dev/urandom > $DATA/initrd.gz
printf '#!ipxe\nkernel http://%s:%s/vmlinuz\ninitrd http://%s:%s/initrd.gz\nimgargs vmlinuz initrd=initrd.gz console=ttyS0\nboot\n' $SRV_IP $NG_PORT $SRV_IP $NG_PORT > $DATA/static.ipxe
chmod 644 $DATA/*; cat $DATA/* > /dev/null

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
  access_log off;
  client_body_temp_path $RUN/nginx-tmp/body; proxy_temp_path $RUN/nginx-tmp/proxy;
  fastcgi_temp_path $RUN/nginx-tmp/fcgi; uwsgi_temp_path $RUN/nginx-tmp/uwsgi; scgi_temp_path $RUN/nginx-tmp/scgi;
  server { listen $SRV_IP:$NG_PORT; root $DATA; }
}
EOF

net_up
start_srv nginx "exec nginx -c $RUN/nginx.conf"
start_srv bootgate "cd $REPO && exec node --import tsx bench/storm/serve.ts --root $DATA --listen $SRV_IP --port $BG_PORT"
start_srv bootgate-adm "cd $REPO && exec node --import tsx bench/storm/serve.ts --root $DATA --listen $SRV_IP --port $ADM_PORT --admission $ADM --poll $POLL"
wait_tcp $SRV_IP $NG_PORT || { cat $RUN/nginx.out; exit 1; }
wait_tcp $SRV_IP $BG_PORT || { cat $RUN/bootgate.out; exit 1; }
wait_tcp $SRV_IP $ADM_PORT || { cat $RUN/bootgate-adm.out; exit 1; }

RES=$OUT/results.jsonl; : > $RES
drive() {   # drive <label> <port> <script> <n> <rep>
  local load=$(cut -d' ' -f1 /proc/loadavg)
  $CC node --import tsx $REPO/bench/storm/storm.ts --base http://$SRV_IP:$2 --script $3 --n $4 --label $1 \
    | python3 -c "import json,sys;d=json.loads(sys.stdin.read());d['rep']=$5;d['load1']=$load;print(json.dumps(d))" | tee -a $RES
}
for n in $NS; do
  for rep in $(seq $REPS); do
    # rotate the order so drift in the shared machine's load hits all three alike
    case $(( rep % 3 )) in
      1) order="bootgate bootgate-adm nginx" ;; 2) order="nginx bootgate bootgate-adm" ;; 0) order="bootgate-adm nginx bootgate" ;;
    esac
    for label in $order; do
      case $label in
        bootgate) drive $label $BG_PORT /boot.ipxe $n $rep ;;
        bootgate-adm) drive $label $ADM_PORT /boot.ipxe $n $rep ;;
        nginx) drive $label $NG_PORT /static.ipxe $n $rep ;;
      esac
    done
  done
done
python3 - $RES <<'EOF' | tee $OUT/summary.md
import json,sys,statistics as st,collections
rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g=collections.defaultdict(list)
for r in rows: g[(r['n'],r['label'])].append(r)
med=lambda rs,f: st.median(f(r) for r in rs)
print('| N | server | completed | wall s | total p50 / p99 s | queue p99 s | files p99 s | load1 | wall ratio vs nginx | p99 ratio vs nginx |')
print('|---|---|---|---|---|---|---|---|---|---|')
for n in sorted({k[0] for k in g}):
    ng=g[(n,'nginx')]
    for label in ['bootgate','bootgate-adm','nginx']:
        rs=g[(n,label)]
        if not rs: continue
        w=med(rs,lambda r:r['wallMs']); p99=med(rs,lambda r:r['total']['p99'])
        print('| %d | %s | %s | %.2f | %.2f / %.2f | %.2f | %.2f | %s | %.2f | %.2f |'%(n,label,'/'.join('%d'%r['completed'] for r in rs),w/1e3,
          med(rs,lambda r:r['total']['p50'])/1e3,p99/1e3,med(rs,lambda r:r['queued']['p99'])/1e3,med(rs,lambda r:r['files']['p99'])/1e3,
          ','.join(str(r['load1']) for r in rs),w/med(ng,lambda r:r['wallMs']),p99/med(ng,lambda r:r['total']['p99'])))
EOF

#!/bin/bash
# iSCSI benchmark: fio (libiscsi engine, userspace initiator) against
#   tgt            tgtd 1.0.85, rdwr backing store on the image file (LUN 1: tgt's LUN 0 is its controller)
#   bootgate-raw   bootgate's target serving the image file directly (src/iscsi/file-device.ts)
#   bootgate-ovl   bootgate with a per-terminal copy-on-write overlay on the same image (keep mode)
# same image, same run, same machine, loopback-free: server in netns bgiscsis, fio in bgiscsic (10.74.0.0/24).
# Jobs (iodepth 16, as ../shared/bench-peers/iscsi-bench.sh): seqread bs=256k (1 GiB pass), randread bs=4k
# (time_based RUNTIME s), seqwrite bs=256k (1 GiB pass). Overlay writes land in the overlay (the image stays
# unchanged). Each overlay rep starts from an empty overlay: seqread/randread read the image through it,
# seqwrite allocates every granule (worst case), rewrite writes the same GiB again (allocated), seqread-ovl reads
# the overlay back.
# Run as root. env: REPS=3 RUNTIME=10 B=/tmp/bgbench FIO=$B/fio-src/fio-3.33/fio
# Output: $B/logs/iscsi.tsv (label job rep MB/s IOPS p99_ms) and a summary on stdout.
set -u
D=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$D/../.." && pwd)
B=${B:-/tmp/bgbench}; REPS=${REPS:-3}; RUNTIME=${RUNTIME:-10}
FIO=${FIO:-$B/fio-src/fio-3.33/fio}
NSS=bgiscsis; NSC=bgiscsic; SRV=10.74.0.1; CLI=10.74.0.2
IMG=$B/disk1g.img; IQN_TGT=iqn.2026-11.io.bootgate:bench.tgt
MAC=52-54-00-be-00-01; IQN_BG=iqn.2026-11.io.bootgate:disk.bench.$MAC
LOGS=$B/logs; mkdir -p $LOGS
[ -x "$FIO" ] || bash $D/build-fio.sh || exit 1
[ -f $IMG ] || head -c 1G /dev/urandom > $IMG
SRVPID=""
net_down() { ip netns del $NSC 2>/dev/null; ip netns del $NSS 2>/dev/null; return 0; }
stop_srv() {
  [ -n "$SRVPID" ] || return 0
  [ -n "${SRV_STOP:-}" ] && eval "$SRV_STOP" >/dev/null 2>&1
  kill -TERM -- -$SRVPID 2>/dev/null; for i in $(seq 50); do kill -0 $SRVPID 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -$SRVPID 2>/dev/null; SRVPID=""; SRV_STOP=""
}
cleanup() { stop_srv; net_down; rm -f /var/run/tgtd/socket.74 /var/run/tgtd/socket.74.lock; }
trap cleanup EXIT
net_down
ip netns add $NSS; ip netns add $NSC
ip -n $NSS link set lo up; ip -n $NSC link set lo up
ip link add bgi0 netns $NSC type veth peer name bgi0 netns $NSS
ip -n $NSS addr add $SRV/24 dev bgi0; ip -n $NSC addr add $CLI/24 dev bgi0
ip -n $NSS link set bgi0 up; ip -n $NSC link set bgi0 up
CC="ip netns exec $NSC"
wait_port() { for i in $(seq 100); do $CC bash -c "exec 3<>/dev/tcp/$SRV/3260" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
start_srv() {  # start_srv <cmd...>: own process group, in the server namespace
  ip netns exec $NSS setsid "$@" > $LOGS/server.out 2>&1 < /dev/null & SRVPID=$!
  wait_port || { cat $LOGS/server.out; exit 1; }
}
TSV=$LOGS/iscsi.tsv; echo "# label job rep MB/s IOPS p99_ms" > $TSV
job() {  # job <label> <url> <name> <rep> <fio args>
  local label=$1 url=$2 n=$3 rep=$4; shift 4
  local fn; fn=$(echo "$url" | sed 's/:/\\:/g')
  $CC $FIO --name=$n --ioengine=libiscsi --filename="$fn" --iodepth=16 --output-format=json "$@" > $LOGS/$label-$n-$rep.json 2> $LOGS/$label-$n-$rep.err
  python3 - $LOGS/$label-$n-$rep.json <<PY | tee -a $TSV
import json,sys
t=open(sys.argv[1]).read(); j=json.loads(t[t.index('{'):])['jobs'][0]; d=j['read'] if j['read']['io_bytes'] else j['write']
p99=d['clat_ns']['percentile'].get('99.000000',0)/1e6
print('$label\t$n\t$rep\t%.1f\t%.0f\t%.3f\terr=%d'%(d['bw_bytes']/1e6,d['iops'],p99,j['error']))
PY
}
jobs() {  # jobs <label> <url> [reset-command]
  local label=$1 url=$2 reset=${3:-}
  for rep in $(seq $REPS); do
    job $label "$url" seqread-256k $rep --rw=read --bs=256k --size=1G
    job $label "$url" randread-4k $rep --rw=randread --bs=4k --size=1G --time_based --runtime=$RUNTIME --norandommap
    [ -n "$reset" ] && eval "$reset"
    job $label "$url" seqwrite-256k $rep --rw=write --bs=256k --size=1G
  done
}
cat $IMG > /dev/null
# --- tgt
start_srv tgtd -f -C 74 --iscsi portal=$SRV:3260
T="tgtadm -C 74 --lld iscsi"
$T --op new --mode target --tid 1 -T $IQN_TGT && $T --op new --mode logicalunit --tid 1 --lun 1 -b $IMG && $T --op bind --mode target --tid 1 -I ALL
SRV_STOP="$T --op delete --mode target --tid 1 --force; $T --op delete --mode system"
jobs tgt "iscsi://$SRV:3260/$IQN_TGT/1"
stop_srv
# --- bootgate, image file served directly
start_srv node --import tsx $ROOT/test/helpers/iscsi-target-runner.ts --listen $SRV --port 3260 --image $IMG --iqn $IQN_BG
jobs bootgate-raw "iscsi://$SRV:3260/$IQN_BG/0"
stop_srv
# --- bootgate with an overlay (the image is read-only; writes go to $B/data/overlays/...)
rm -rf $B/data
OV="node --import tsx $ROOT/test/helpers/iscsi-target-runner.ts --listen $SRV --port 3260 --data-dir $B/data --overlay-image bench=$IMG --mode keep"
start_srv $OV
U="iscsi://$SRV:3260/$IQN_BG/0"
for rep in $(seq $REPS); do   # every rep starts from an empty overlay (reads hit the image)
  stop_srv; rm -rf $B/data/overlays/terminals; start_srv $OV
  job bootgate-ovl "$U" seqread-256k $rep --rw=read --bs=256k --size=1G
  job bootgate-ovl "$U" randread-4k $rep --rw=randread --bs=4k --size=1G --time_based --runtime=$RUNTIME --norandommap
  job bootgate-ovl "$U" seqwrite-256k $rep --rw=write --bs=256k --size=1G          # allocates every granule
  job bootgate-ovl "$U" rewrite-256k $rep --rw=write --bs=256k --size=1G           # overlay already allocated
  job bootgate-ovl "$U" seqread-ovl-256k $rep --rw=read --bs=256k --size=1G        # reads from the overlay
done
stop_srv
# --- bootgate, discard mode: every fio run is a new login, i.e. a terminal's new boot on an emptied overlay. The
# first boot creates the overlay's data file (the filesystem allocates every block it writes); the next boot
# starts clean on the kept data file (iscsi.overlays.recycleBytes), so its first writes overwrite allocated blocks.
OVD="node --import tsx $ROOT/test/helpers/iscsi-target-runner.ts --listen $SRV --port 3260 --data-dir $B/data --overlay-image bench=$IMG --mode discard"
for rep in $(seq $REPS); do
  rm -rf $B/data/overlays/terminals; start_srv $OVD
  job bootgate-discard "$U" firstboot-write-256k $rep --rw=write --bs=256k --size=1G    # new data file
  job bootgate-discard "$U" nextboot-write-256k $rep --rw=write --bs=256k --size=1G     # reset overlay, kept file
  stop_srv
done
python3 - $TSV <<'PY'
import sys,collections,statistics
rows=[l.split('\t') for l in open(sys.argv[1]) if not l.startswith('#')]
m=collections.defaultdict(list)
for r in rows: m[(r[0],r[1])].append((float(r[3]),float(r[4])))
print('label\tjob\tmedian MB/s\tmedian IOPS\treps')
for (l,j),v in m.items(): print('%s\t%s\t%.0f\t%.0f\t%d'%(l,j,statistics.median(x[0] for x in v),statistics.median(x[1] for x in v),len(v)))
PY

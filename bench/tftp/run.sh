#!/bin/bash
# TFTP benchmark: bootgate vs tftpd-hpa vs dnsmasq, same machine, same namespaces, same run (run as root).
#   bash bench/tftp/run.sh            # REPS=3 STORM_REPS=2 STORMS="50 100"
# Workloads (from /work/shared/bench-peers/tftp-bench.sh): one client fetching a 100 MiB file with curl and atftp
# at blksize 1468 (and atftp windowsize 16), then storms of N concurrent curl clients fetching a 30 MiB file.
# Every download is checked with sha256. Servers are interleaved within each repetition.
# Output: $OUT/tftp.tsv (server test rep seconds MB/s ok) and a summary (median per test, ratio vs best peer).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}; STORM_REPS=${STORM_REPS:-2}; STORMS=${STORMS:-"50 100"}; STORM_BS=${STORM_BS:-1468}
SERVERS=${SERVERS:-"bootgate tftpd-hpa dnsmasq"}
CLIENTS=${CLIENTS:-"curl-1468 atftp-1468 atftp-1468-win16 curl-512"}
OUT=${OUT:-/tmp/bgtftp-bench}; ROOT=$OUT/root; DL=${DL:-/dev/shm/bgtftp-dl}; RUN=$OUT/run
NS_SRV=bgtftp-bsrv; NS_CLI=bgtftp-bcli; SRV_IP=10.71.200.1; CLI_IP=10.71.200.2
CS="ip netns exec $NS_SRV"; CC="ip netns exec $NS_CLI"
mkdir -p $ROOT $DL $RUN; chmod 755 $OUT $ROOT
[ -f $ROOT/big100.bin ]  || head -c 100M /dev/urandom > $ROOT/big100.bin
[ -f $ROOT/storm30.bin ] || head -c 30M  /dev/urandom > $ROOT/storm30.bin
chmod 644 $ROOT/*.bin
REF100=$(sha256sum < $ROOT/big100.bin); REF30=$(sha256sum < $ROOT/storm30.bin); SZ=$(stat -c %s $ROOT/big100.bin)

net_down() { ip netns del $NS_CLI 2>/dev/null; ip netns del $NS_SRV 2>/dev/null; return 0; }
net_up() {
  net_down
  ip netns add $NS_SRV; ip netns add $NS_CLI
  ip -n $NS_SRV link set lo up; ip -n $NS_CLI link set lo up
  ip -n $NS_SRV link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $NS_SRV addr add $SRV_IP/24 dev br0; ip -n $NS_SRV link set br0 up
  ip link add bgtbc0 netns $NS_CLI type veth peer name bgtbc0-br netns $NS_SRV
  ip -n $NS_SRV link set bgtbc0-br master br0 up
  ip -n $NS_CLI addr add $CLI_IP/24 dev bgtbc0; ip -n $NS_CLI link set bgtbc0 up
  for i in $(seq 50); do $CC ping -c1 -W1 -q $SRV_IP >/dev/null 2>&1 && break; sleep 0.1; done
}
SRV_PID=
start_srv() {  # start_srv <name>: foreground server under setsid (own process group), stopped by that PID only
  local cmd
  case $1 in
    bootgate)  cmd="exec node --import tsx $REPO/bench/tftp/serve-tftp.ts --root $ROOT --ifname br0 --set rateLimit.burst=1000 --set rateLimit.perSourcePerSecond=1000" ;;
    tftpd-hpa) cmd="exec in.tftpd -L -u tftp -s $ROOT -a $SRV_IP:69" ;;
    dnsmasq)   cmd="exec dnsmasq -k --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces --pid-file=$RUN/dnsmasq.pid --log-facility=$RUN/dnsmasq.log --enable-tftp --tftp-root=$ROOT" ;;
  esac
  $CS setsid bash -c "$cmd" > $RUN/$1.out 2>&1 < /dev/null &
  SRV_PID=$!
  for i in $(seq 100); do $CS ss -Hlun "sport = :69" | grep -q . && return 0; sleep 0.1; done
  echo "$1 never bound udp 69" >&2; cat $RUN/$1.out >&2; return 1
}
stop_srv() {
  [ -n "$SRV_PID" ] || return 0
  kill -TERM -- -$SRV_PID 2>/dev/null
  for i in $(seq 50); do kill -0 -- -$SRV_PID 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -$SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null; SRV_PID=
  # wait until port 69 is free again
  for i in $(seq 50); do $CS ss -Hlun "sport = :69" | grep -q . || break; sleep 0.1; done
}
cleanup() { set +e; stop_srv; net_down; rm -rf $DL; }
trap cleanup EXIT INT TERM
now() { date +%s.%N; }
client_cmd() {
  local F=big100.bin O=$DL/out
  case $1 in
    atftp-512)        echo "atftp -g -r $F -l $O $SRV_IP" ;;
    atftp-1468)       echo "atftp --option 'blksize 1468' -g -r $F -l $O $SRV_IP" ;;
    atftp-1468-win16) echo "atftp --option 'blksize 1468' --option 'windowsize 16' -g -r $F -l $O $SRV_IP" ;;
    curl-512)         echo "curl -sS -o $O tftp://$SRV_IP/$F" ;;
    curl-1468)        echo "curl -sS --tftp-blksize 1468 -o $O tftp://$SRV_IP/$F" ;;
  esac
}
net_up
TSV=$OUT/tftp.tsv; echo -e "# server\ttest\trep\tseconds\tMB/s(1e6)\tok" > $TSV
for rep in $(seq $REPS); do
  for s in $SERVERS; do
    start_srv $s || exit 1
    for c in $CLIENTS; do
      rm -f $DL/out; t0=$(now); $CC timeout 300 bash -c "$(client_cmd $c)" > $RUN/$s-$c-$rep.log 2>&1; rc=$?; t1=$(now)
      ok=BAD; [ $rc = 0 ] && [ "$(sha256sum < $DL/out 2>/dev/null)" = "$REF100" ] && ok=OK
      python3 -c "t=$t1-$t0;print('$s\t$c\t$rep\t%.3f\t%.2f\t$ok'%(t,$SZ/1e6/t))" | tee -a $TSV
    done
    stop_srv
  done
done
for n in $STORMS; do
  for rep in $(seq $STORM_REPS); do
    for s in $SERVERS; do
      start_srv $s || exit 1
      rm -f $DL/storm-*
      t0=$(now)
      $CC bash -c "for i in \$(seq $n); do curl -sS --tftp-blksize $STORM_BS -o $DL/storm-\$i tftp://$SRV_IP/storm30.bin 2>>$RUN/$s-storm$n-$rep.err & done; wait"
      t1=$(now)
      good=0; for i in $(seq $n); do [ "$(sha256sum < $DL/storm-$i 2>/dev/null)" = "$REF30" ] && good=$((good+1)); done
      python3 -c "t=$t1-$t0;print('$s\tstorm${n}x30MiB\t$rep\t%.3f\t%.2f\t$good/$n'%(t,$n*30*1048576/1e6/t))" | tee -a $TSV
      rm -f $DL/storm-*
      stop_srv
    done
  done
done
python3 - "$TSV" <<'PY'
import sys, statistics as st, collections
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('#')]
d = collections.defaultdict(list); ok = collections.defaultdict(list)
for s, t, rep, sec, mbs, good in rows:
    d[(t, s)].append(float(mbs)); ok[(t, s)].append(good)
tests = list(dict.fromkeys(t for t, _ in d)); servers = list(dict.fromkeys(s for _, s in d))
print('\n| test | ' + ' | '.join(f'{s} MB/s' for s in servers) + ' | bootgate ÷ best peer |')
print('|---|' + '---|' * (len(servers) + 1))
for t in tests:
    med = {s: st.median(d[(t, s)]) for s in servers if (t, s) in d}
    peers = [v for s, v in med.items() if s != 'bootgate']
    ratio = f"{med['bootgate'] / max(peers):.2f}×" if 'bootgate' in med and peers else 'n/a'
    cells = [f"{med[s]:.1f} [{min(d[(t, s)]):.1f}–{max(d[(t, s)]):.1f}] ({','.join(ok[(t, s)])})" if s in med else '–' for s in servers]
    print(f'| {t} | ' + ' | '.join(cells) + f' | {ratio} |')
PY

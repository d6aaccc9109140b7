#!/bin/bash
# iscsi-test-cu --test=ALL --dataloss against bootgate's target and tgt, same image size, in a netns of our own
# (loopback only). Raw outputs go to docs/bench/iscsi-cu/{bootgate,tgt}.txt. Needs root, tgtd, libiscsi-bin.
#   test/conformance/iscsi-cu-compare.sh [TEST-REGEX]
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD; NS=bgcu$$; W=$(mktemp -d); OUT=$ROOT/docs/bench/iscsi-cu; mkdir -p "$OUT"
TEST=${1:-ALL}; SIZE_MB=64; IQN_BG=iqn.2026-11.io.bootgate:disk.cu.52-54-00-4a-00-10; IQN_TGT=iqn.2026-11.io.bootgate:cu.tgt
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; ip netns del $NS 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
ip netns add $NS && ip -n $NS link set lo up
X="ip netns exec $NS"
truncate -s ${SIZE_MB}M "$W/bg.img" "$W/tgt.img"
# bootgate serves what a terminal gets: a copy-on-write overlay (keep mode) on the golden image
$X node --import tsx test/helpers/iscsi-target-runner.ts --port 3260 --listen 127.0.0.1 --data-dir "$W/data" \
  --overlay-image cu="$W/bg.img" --mode keep >"$W/bg.log" 2>&1 & PIDS+=($!)
$X tgtd -f -C 75 --iscsi portal=127.0.0.1:3261 >"$W/tgt.log" 2>&1 & PIDS+=($!)
for i in $(seq 50); do grep -q 'iscsi target ready' "$W/bg.log" && break; sleep 0.2; done
sleep 1
T="$X tgtadm -C 75 --lld iscsi"
$T --op new --mode target --tid 1 -T $IQN_TGT && $T --op new --mode logicalunit --tid 1 --lun 1 -b "$W/tgt.img" && $T --op bind --mode target --tid 1 -I ALL
$X timeout 600 iscsi-test-cu --dataloss --test="$TEST" iscsi://127.0.0.1:3260/$IQN_BG/0 >"$OUT/bootgate${SUFFIX:-}.txt" 2>&1
[ -n "${SKIP_TGT:-}" ] || $X timeout 600 iscsi-test-cu --dataloss --test="$TEST" iscsi://127.0.0.1:3261/$IQN_TGT/1 >"$OUT/tgt.txt" 2>&1 </dev/null
rm -f /var/run/tgtd/socket.75 /var/run/tgtd/socket.75.lock
for f in bootgate${SUFFIX:-} tgt; do echo "== $f"; grep -E '^\s+(suites|tests|asserts)' "$OUT/$f.txt"; done

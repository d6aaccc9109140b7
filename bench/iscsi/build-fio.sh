#!/bin/bash
# fio 3.33 (Debian bookworm's source) rebuilt with the libiscsi engine, as ../shared/bench-peers/run-all.sh
# does: Debian's fio package is built without it. Private apt lists: the system's sources are not changed.
# Needs: apt-get install libiscsi-dev gcc make. Output: $B/fio-src/fio-3.33/fio
set -eu
B=${B:-/tmp/bgbench}
[ -x $B/fio-src/fio-3.33/fio ] && exit 0
dpkg -s libiscsi-dev >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libiscsi-dev gcc make >/dev/null
mkdir -p $B/apt/lists/partial $B/fio-src
echo "deb-src http://deb.debian.org/debian bookworm main" > $B/apt/src.list
O="-o Dir::Etc::SourceList=$B/apt/src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$B/apt/lists"
apt-get $O update >/dev/null
(cd $B/fio-src && apt-get $O source --download-only fio >/dev/null && tar xzf fio_3.33.orig.tar.gz)
(cd $B/fio-src/fio-3.33 && ./configure --enable-libiscsi --disable-native >/dev/null && make -j2 >/dev/null)
$B/fio-src/fio-3.33/fio --enghelp | grep -q libiscsi

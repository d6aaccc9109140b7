#!/usr/bin/env bash
# Makes a fresh Debian 12 checkout ready to run and test: Debian packages the tests and lab use, npm packages
# (better-sqlite3 and the interface-socket addon build from source with node-gyp). Idempotent and quiet when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bootgate: the lab and the tests create network namespaces and need root (run as root or with sudo)" >&2
  exit 1
fi
bash scripts/install-system-deps.sh
export npm_config_nodedir=/usr
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (better-sqlite3 builds from source, about a minute)…" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
[ -f build/Release/bootgate_net.node ] && [ build/Release/bootgate_net.node -nt src/native/iface_udp.c ] || npm run install --silent
node -e "require('better-sqlite3')" 2>/dev/null || npm rebuild better-sqlite3
bash scripts/build-ui.sh

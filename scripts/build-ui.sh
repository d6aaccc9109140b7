#!/usr/bin/env bash
# Bundles the browser UI (ui/: TypeScript, no framework) with esbuild into build/ui/ (index.html, app.js,
# app.css), which the appliance serves at /ui/ on the management listener. Nothing is fetched at runtime.
# Idempotent: rebuilds only when a source is newer than the bundle (or with --force).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/ui
if [ "${1:-}" != --force ] && [ -f "$out/app.js" ] && [ -z "$(find ui src/ui/wire.ts -newer "$out/app.js" -type f -print -quit)" ]; then
  exit 0
fi
mkdir -p "$out"
node_modules/.bin/esbuild ui/src/main.ts --bundle --format=esm --target=es2022 --minify --sourcemap \
  --legal-comments=none --log-level=warning --outfile="$out/app.js"
cp ui/index.html ui/app.css "$out/"

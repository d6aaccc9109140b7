#!/bin/bash
# An iPXE-like HTTP boot client made of curl: fetches a script URL and follows it the way iPXE would for the
# commands bootgate's scripts use (echo → stdout, sleep, chain → fetch and run the next script, kernel/initrd →
# download, boot → report /booted?mac=). Used by the admission-control test and bench/storm.
#   ipxe-like-client.sh <script-url> <mac-hyphens> <download-dir> [<go-file>]
# With <go-file>, waits for that file to exist after the downloads and before "boot" (the test holds a slot).
set -u
url=$1 mac=$2 dir=$3 go=${4:-}
mkdir -p "$dir"
for hop in $(seq 1 1000); do
  script=$(curl -sS --noproxy '*' --fail "$url") || { echo "client: script fetch failed: $url" >&2; exit 1; }
  next=''
  while IFS= read -r line; do
    set -- $line
    case "${1:-}" in
      '#!ipxe' | '') ;;
      echo) shift; echo "$*" ;;
      sleep) sleep "$2" ;;
      chain) shift; while [ "${1#--}" != "${1:-}" ]; do shift; done; next=$1; break ;;
      kernel | initrd)
        f="$dir/$(basename "$2")"
        curl -sS --noproxy '*' --fail -o "$f" "$2" || { echo "client: download failed: $2" >&2; exit 1; }
        echo "client: fetched $2" ;;
      imgargs) ;;
      boot)
        [ -n "$go" ] && { echo "client: holding"; while [ ! -e "$go" ]; do sleep 0.1; done; }
        base=${url%%/boot.ipxe*}
        curl -sS --noproxy '*' --fail "$base/booted?mac=$mac" || exit 1
        echo "client: booted"; exit 0 ;;
      *) echo "client: unknown command $1" >&2; exit 1 ;;
    esac
  done <<< "$script"
  [ -n "$next" ] || { echo "client: script ended without boot or chain" >&2; exit 1; }
  url=$next
done
echo "client: too many hops" >&2
exit 1

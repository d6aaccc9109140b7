#!/usr/bin/env bash
# Installs the Debian packages bootgate's tests and lab use, only those missing. Idempotent.
set -euo pipefail
PKGS=(busybox-static isc-dhcp-client kea-admin kea-dhcp4-server dnsmasq-base tcpdump iproute2 nftables iputils-ping python3 curl
      tftp-hpa atftp tftpd-hpa nginx-light wrk apache2-utils tinyproxy qemu-system-x86 qemu-utils ipxe-qemu ipxe ovmf cpio
      libiscsi-bin qemu-block-extra tgt syslinux syslinux-common extlinux dosfstools fdisk mtools e2fsprogs conntrack chromium fonts-wqy-microhei
      bind9-dnsutils knot-dnsutils unbound dnsperf haproxy)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps package installs from starting kea/dnsmasq/unbound services that would grab ports 67 and 53.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  apt-get update -qq >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

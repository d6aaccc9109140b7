#!/bin/bash
# Build the demo thin-client OS and a complete TFTP/HTTP boot root into ${BOOTGATE_IMAGES:-<checkout>/.lab/images}:
#   vmlinuz        Debian's linux-image-6.1.0-<newest>-amd64 kernel (apt-get download + dpkg-deb -x, no install)
#   initrd.gz      busybox-static initramfs (newc cpio, gzip -n): DHCP on eth0, report to bootgate, marker, poweroff
#   undionly.kpxe, ipxe.efi, snponly.efi   iPXE binaries from Debian's ipxe package
#   build-info.json  what was built from what (kernel package + version, sha256 and size of every file)
# Idempotent: the kernel .deb is downloaded once (cached in $OUT/.cache) and the initramfs is reproducible
# (sorted entries, fixed mtimes, gzip -n), so a second run produces byte-identical files.
# Needs root (mknod for /dev/console in the initramfs) and Debian packages busybox-static, cpio, ipxe.
# Env: BOOTGATE_IMAGES (output dir), BOOTGATE_KERNEL_PACKAGE (pin e.g. linux-image-6.1.0-56-amd64).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CHECKOUT=$(cd "$HERE/.." && pwd)
OUT=${BOOTGATE_IMAGES:-$CHECKOUT/.lab/images}
CACHE=$OUT/.cache
# Network drivers /init loads, in dependency order (QEMU NICs: e1000 = pc default, e1000e = q35 default, virtio-net-pci
# = the NIC OVMF's own PXE has a driver for). Order checked against each .ko's modinfo "depends=".
MODULES=(e1000 e1000e virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net)
IPXE_FILES=(undionly.kpxe ipxe.efi snponly.efi)
EPOCH=1700000000   # fixed mtime for reproducible archives

log() { echo "build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the initramfs needs a /dev/console device node)"
for c in apt-get apt-cache dpkg-deb cpio gzip sha256sum; do command -v $c >/dev/null || die "missing command $c"; done
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx udhcpc || die "install busybox-static (/bin/busybox with udhcpc)"
for f in "${IPXE_FILES[@]}"; do [ -f /usr/lib/ipxe/$f ] || die "missing /usr/lib/ipxe/$f (install Debian package ipxe)"; done
mkdir -p "$OUT" "$CACHE"

# --- 1. kernel -------------------------------------------------------------------------------------------------
PKG=${BOOTGATE_KERNEL_PACKAGE:-$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' \
  | awk '{print $1}' | sort -V | tail -n 1)}
[ -n "$PKG" ] || die "no linux-image-6.1.0-*-amd64 package in the apt repositories (apt-get update?)"
KVER=${PKG#linux-image-}
DEB=$(ls "$CACHE"/${PKG}_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$DEB" ]; then
  log "downloading $PKG"
  (cd "$CACHE" && apt-get download -q "$PKG" >/dev/null 2>"$CACHE/apt-get.err") || { cat "$CACHE/apt-get.err" >&2; die "apt-get download $PKG failed"; }
  DEB=$(ls "$CACHE"/${PKG}_*.deb | sort -V | tail -n 1)
fi
PKGVER=$(dpkg-deb -f "$DEB" Version)
KX=$CACHE/kernel-$KVER   # only vmlinuz and the modules the initramfs needs are kept from the 400 MB tree
need_extract=0
[ -f "$KX/boot/vmlinuz-$KVER" ] || need_extract=1
for m in "${MODULES[@]}"; do [ -f "$KX/modules/$m.ko" ] || need_extract=1; done
if [ $need_extract = 1 ]; then
  log "extracting $(basename "$DEB")"
  rm -rf "$KX.tmp" "$KX"; mkdir -p "$KX.tmp" "$KX/boot" "$KX/modules"
  dpkg-deb -x "$DEB" "$KX.tmp"
  cp "$KX.tmp/boot/vmlinuz-$KVER" "$KX.tmp/boot/config-$KVER" "$KX/boot/"
  for m in "${MODULES[@]}"; do
    ko=$(find "$KX.tmp/lib/modules/$KVER/kernel" -name "$m.ko" -print -quit)
    [ -n "$ko" ] || die "module $m.ko not in $PKG"
    cp "$ko" "$KX/modules/$m.ko"
  done
  rm -rf "$KX.tmp"
fi
install -m 0644 "$KX/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"

# --- 2. initramfs -------------------------------------------------------------------------------------------------
R=$CACHE/initramfs-root
rm -rf "$R"; mkdir -p "$R"/{bin,sbin,dev,proc,sys,etc,tmp,run,lib/modules}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
: > "$R/etc/modules"
for m in "${MODULES[@]}"; do
  cp "$KX/modules/$m.ko" "$R/lib/modules/$m.ko"
  echo "$m" >> "$R/etc/modules"
done
cp "$HERE/initramfs/init" "$R/init"
cp "$HERE/initramfs/udhcpc.script" "$R/etc/udhcpc.script"
chmod 0755 "$R/init" "$R/etc/udhcpc.script"
echo "$PKG $PKGVER" > "$R/etc/bootgate-demo-os"
find "$R" -exec touch -h -d "@$EPOCH" {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet --reproducible | gzip -9 -n) > "$OUT/initrd.gz.tmp"
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"

# --- 3. iPXE binaries -------------------------------------------------------------------------------------------
for f in "${IPXE_FILES[@]}"; do install -m 0644 /usr/lib/ipxe/$f "$OUT/$f"; done
IPXEVER=$(dpkg-query -W -f '${Version}' ipxe 2>/dev/null || echo unknown)

# --- 4. build-info.json -----------------------------------------------------------------------------------------
{
  printf '{\n  "kernelPackage": "%s",\n  "kernelPackageVersion": "%s",\n  "kernelRelease": "%s",\n' "$PKG" "$PKGVER" "$KVER"
  printf '  "ipxePackageVersion": "%s",\n  "initramfsModules": ["%s"],\n  "files": {\n' "$IPXEVER" "$(IFS=,; echo "${MODULES[*]}" | sed 's/,/", "/g')"
  n=0
  for f in vmlinuz initrd.gz "${IPXE_FILES[@]}"; do
    [ $n -gt 0 ] && printf ',\n'; n=$((n+1))
    printf '    "%s": { "bytes": %s, "sha256": "%s" }' "$f" "$(stat -c %s "$OUT/$f")" "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
  printf '\n  }\n}\n'
} > "$OUT/build-info.json.tmp"
mv "$OUT/build-info.json.tmp" "$OUT/build-info.json"
log "built $OUT: $PKG ($PKGVER), initrd.gz $(stat -c %s "$OUT/initrd.gz") bytes, vmlinuz $(stat -c %s "$OUT/vmlinuz") bytes"
echo "$OUT"

#!/bin/bash
# Build the demo OS as bootable disk images for iPXE `sanboot` over iSCSI, into ${BOOTGATE_IMAGES:-<checkout>/.lab/images}:
#   sandisk-bios.img  64 MiB raw disk: MBR (syslinux mbr.bin) + one bootable FAT16 partition with SYSLINUX,
#                     vmlinuz and initrd.gz (the same ones build.sh makes)
#   sandisk-efi.img   64 MiB raw disk: MBR + one EFI System Partition (FAT16) with systemd-boot as
#                     \EFI\BOOT\BOOTX64.EFI (from the systemd-boot-efi .deb, downloaded, not installed) + kernel/initrd
# No loop devices or mounts: sfdisk + dd of mbr.bin + mkfs.fat --offset + syslinux --install --offset + mtools.
# Kernel command line on both: console=ttyS0 quiet bootgate=${BOOTGATE_SANBOOT_URL:-dhcp}
#   (bootgate=dhcp: the demo OS reports to http://<its DHCP server> /booted?mac=<mac>).
# Runs build.sh first (idempotent, cached). Needs root (build.sh), syslinux, syslinux-common, dosfstools, fdisk, mtools.
# Usage: build-sandisk.sh [bios|efi|all]   (default all)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BOOTGATE_IMAGES:-$(cd "$HERE/.." && pwd)/.lab/images}
CACHE=$OUT/.cache
URL=${BOOTGATE_SANBOOT_URL:-dhcp}
CMDLINE="console=ttyS0 quiet bootgate=$URL"
WHAT=${1:-all}
SIZE_MIB=64
START=2048                                   # partition start, in 512-byte sectors (1 MiB)
OFF=$((START * 512))
FAT_KIB=$((SIZE_MIB * 1024 - START / 2))     # partition size in 1 KiB blocks (mkfs.fat's unit)
VOLID=B0076A7E                               # fixed FAT volume id, so rebuilds differ only in timestamps
export MTOOLS_SKIP_CHECK=1

log() { echo "build-sandisk.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
case $WHAT in bios|efi|all) ;; *) die "usage: $0 [bios|efi|all]" ;; esac
for c in sfdisk mkfs.fat mcopy mmd; do command -v $c >/dev/null || die "missing command $c"; done

BOOTGATE_IMAGES=$OUT bash "$HERE/build.sh" >/dev/null
mkdir -p "$CACHE/sandisk"

# new_disk <img> <partition type>: sparse disk with one bootable primary partition, formatted FAT16
new_disk() {
  rm -f "$1"; truncate -s ${SIZE_MIB}M "$1"
  printf 'label: dos\nstart=%s, type=%s, bootable\n' $START "$2" | sfdisk -q "$1"
  mkfs.fat -F 16 -i $VOLID -n "$3" --offset $START "$1" $FAT_KIB >/dev/null
}

if [ "$WHAT" != efi ]; then
  command -v syslinux >/dev/null && [ -f /usr/lib/syslinux/mbr/mbr.bin ] || die "install syslinux and syslinux-common"
  IMG=$OUT/sandisk-bios.img.tmp
  new_disk "$IMG" 6 BGDEMO
  dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none
  syslinux --install --offset $OFF "$IMG"
  cat > "$CACHE/sandisk/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT demo
PROMPT 0
TIMEOUT 1
LABEL demo
  KERNEL vmlinuz
  APPEND initrd=initrd.gz $CMDLINE
CFG
  mcopy -i "$IMG@@$OFF" "$CACHE/sandisk/syslinux.cfg" ::syslinux.cfg
  mcopy -i "$IMG@@$OFF" "$OUT/vmlinuz" ::vmlinuz
  mcopy -i "$IMG@@$OFF" "$OUT/initrd.gz" ::initrd.gz
  mv "$IMG" "$OUT/sandisk-bios.img"
  log "built $OUT/sandisk-bios.img (syslinux; APPEND initrd=initrd.gz $CMDLINE)"
fi

if [ "$WHAT" != bios ]; then
  SB=$CACHE/systemd-boot-efi
  EFI=$SB/x/usr/lib/systemd/boot/efi/systemd-bootx64.efi
  if [ ! -f "$EFI" ]; then
    log "downloading systemd-boot-efi"
    rm -rf "$SB"; mkdir -p "$SB"
    (cd "$SB" && apt-get download -q systemd-boot-efi >/dev/null 2>"$SB/apt-get.err") || { cat "$SB/apt-get.err" >&2; die "apt-get download systemd-boot-efi failed"; }
    dpkg-deb -x "$SB"/systemd-boot-efi_*.deb "$SB/x"
  fi
  IMG=$OUT/sandisk-efi.img.tmp
  new_disk "$IMG" ef BGDEMOESP
  M="mmd -i $IMG@@$OFF"; C="mcopy -i $IMG@@$OFF"
  $M ::EFI ::EFI/BOOT ::loader ::loader/entries
  $C "$EFI" ::EFI/BOOT/BOOTX64.EFI
  printf 'timeout 0\ndefault demo.conf\n' > "$CACHE/sandisk/loader.conf"
  printf 'title bootgate demo OS\nlinux /vmlinuz\ninitrd /initrd.gz\noptions %s\n' "$CMDLINE" > "$CACHE/sandisk/demo.conf"
  $C "$CACHE/sandisk/loader.conf" ::loader/loader.conf
  $C "$CACHE/sandisk/demo.conf" ::loader/entries/demo.conf
  $C "$OUT/vmlinuz" ::vmlinuz
  $C "$OUT/initrd.gz" ::initrd.gz
  mv "$IMG" "$OUT/sandisk-efi.img"
  log "built $OUT/sandisk-efi.img (systemd-boot; options $CMDLINE)"
fi

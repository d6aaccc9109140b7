#!/bin/bash
# Build a disk image whose ROOT FILESYSTEM is on the disk itself, for iPXE `sanboot` over iSCSI, BIOS and UEFI on one
# disk, into ${BOOTGATE_IMAGES:-<checkout>/.lab/images}/rootdisk.img (128 MiB, sparse):
#   MBR (syslinux mbr.bin), partition 1 (bootable, type 0xEF, FAT16, 40 MiB): SYSLINUX (BIOS) and systemd-boot as
#       \EFI\BOOT\BOOTX64.EFI (UEFI), the Debian kernel (build.sh's vmlinuz) and rootdisk-initrd.gz
#   partition 2 (type 0x83, ext4, label bgroot): the OS — busybox-static from Debian, /sbin/init = rootfs/init
# The initramfs (rootfs/initrd-init) loads the NIC, iSCSI and ext4 modules of that kernel, configures the NIC from
# the iBFT iPXE leaves (/sys/firmware/ibft), logs in with open-iscsi's `iscsistart -b` (extracted with its
# libraries from the .debs, not installed), mounts LABEL=bgroot and switch_roots into it.
# No loop devices or mounts: sfdisk, dd, mkfs.fat --offset, syslinux --install --offset, mtools, mke2fs -d -E offset.
# Idempotent and cached: the .debs and the extracted modules live in $OUT/.cache/rootdisk; the image is rebuilt only
# when an input changed (a stamp of the inputs' hashes). Needs root (build.sh, device nodes) and the Debian packages of
# build-sandisk.sh plus e2fsprogs.
# Usage: build-rootdisk.sh        (prints the image path)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BOOTGATE_IMAGES:-$(cd "$HERE/.." && pwd)/.lab/images}
CACHE=$OUT/.cache/rootdisk
URL=${BOOTGATE_SANBOOT_URL:-dhcp}
CMDLINE="console=ttyS0 quiet bootgate=$URL"
SIZE_MIB=128
P1_START=2048                 # sectors (1 MiB)
P1_SECTORS=$((40 * 2048))     # 40 MiB FAT16
P2_START=$((P1_START + P1_SECTORS))
P2_SECTORS=$((SIZE_MIB * 2048 - P2_START))
VOLID=B0076A7F
ROOT_UUID=6b6f6f74-2d6f-6e2d-6973-637369000021
EPOCH=1700000000
# the initramfs's modules (their modinfo "depends=" are added in load order): NICs of QEMU terminals, the iBFT
# reader, the iSCSI initiator, the SCSI disk and ext4 with the crc32c it asks the crypto API for
MODULES=(virtio_pci virtio_net e1000 e1000e iscsi_ibft iscsi_tcp sd_mod crc32c_intel crc32c_generic ext4)
export MTOOLS_SKIP_CHECK=1

log() { echo "build-rootdisk.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
for c in sfdisk mkfs.fat mcopy mmd mke2fs syslinux ldd cpio gzip; do command -v $c >/dev/null || die "missing command $c"; done
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || die "install syslinux-common"

BOOTGATE_IMAGES=$OUT bash "$HERE/build.sh" >/dev/null
mkdir -p "$CACHE"
KPKG=$(sed -n 's/.*"kernelPackage": "\([^"]*\)".*/\1/p' "$OUT/build-info.json")
KVER=${KPKG#linux-image-}
KDEB=$(ls "$OUT"/.cache/${KPKG}_*.deb | sort -V | tail -n 1)

# --- 1. downloads: open-iscsi + libopeniscsiusr (iscsistart), systemd-boot-efi ----------------------------------
fetch() { # fetch <package>: the extracted tree in $CACHE/<package>/x
  local d=$CACHE/$1
  if [ ! -f "$d/done" ]; then
    log "downloading $1"
    rm -rf "$d"; mkdir -p "$d"
    (cd "$d" && apt-get download -q "$1" >/dev/null 2>"$d/apt-get.err") || { cat "$d/apt-get.err" >&2; die "apt-get download $1 failed"; }
    dpkg-deb -x "$d"/*.deb "$d/x"
    touch "$d/done"
  fi
}
fetch open-iscsi
fetch libopeniscsiusr
fetch systemd-boot-efi
ISCSISTART=$CACHE/open-iscsi/x/sbin/iscsistart
EFI=$CACHE/systemd-boot-efi/x/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -x "$ISCSISTART" ] && [ -f "$EFI" ] || die "iscsistart or systemd-bootx64.efi missing from the .debs"

# --- 2. kernel modules (the whole module tree is extracted once, only the closure is kept) ------------------------
KM=$CACHE/modules-$KVER
if [ ! -f "$KM/load-order" ]; then
  log "extracting modules from $(basename "$KDEB")"
  rm -rf "$KM" "$KM.tmp"; mkdir -p "$KM.tmp" "$KM/ko"
  dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$KM.tmp" --wildcards "./lib/modules/$KVER/kernel/*"
  declare -A path=() done_=()
  while read -r f; do b=$(basename "$f" .ko); path[${b//-/_}]=$f; done < <(find "$KM.tmp" -name '*.ko')
  order=()
  visit() { # depth-first: dependencies first
    local m=${1//-/_} d
    [ -n "${done_[$m]:-}" ] && return
    [ -n "${path[$m]:-}" ] || die "module $m not in $KPKG (built in? then drop it from MODULES)"
    done_[$m]=1
    # the .modinfo section's NUL-separated "depends=a,b" string (what modinfo -F depends prints; no kmod needed)
    for d in $(tr '\0' '\n' < "${path[$m]}" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '); do visit "$d"; done
    order+=("$m")
  }
  for m in "${MODULES[@]}"; do visit "$m"; done
  for m in "${order[@]}"; do cp "${path[$m]}" "$KM/ko/$m.ko"; done
  printf '%s\n' "${order[@]}" > "$KM/load-order"
  rm -rf "$KM.tmp"
fi

# --- 3. stamp: rebuild only when an input changed ----------------------------------------------------------------
STAMP=$( { cat "$0" "$HERE/rootfs/initrd-init" "$HERE/rootfs/init" /bin/busybox "$ISCSISTART" "$OUT/vmlinuz" "$EFI" \
  /usr/lib/syslinux/mbr/mbr.bin "$KM/load-order"; echo "$CMDLINE"; } | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/rootdisk.img" ] && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "$OUT/rootdisk.img"; exit 0
fi

# --- 4. initramfs --------------------------------------------------------------------------------------------------
R=$CACHE/initramfs-root
rm -rf "$R"; mkdir -p "$R"/{bin,sbin,dev,proc,sys,etc,run,tmp,newroot,lib/modules,lib64}
cp /bin/busybox "$R/bin/busybox"; ln -s busybox "$R/bin/sh"
mknod -m 600 "$R/dev/console" c 5 1; mknod -m 666 "$R/dev/null" c 1 3
cp "$ISCSISTART" "$R/sbin/iscsistart"
# iscsistart's libraries: libopeniscsiusr from its .deb, the rest (libc, libcrypto, libkmod, …) from this system
LIBS=$(LD_LIBRARY_PATH=$CACHE/libopeniscsiusr/x/usr/lib/x86_64-linux-gnu ldd "$ISCSISTART" | awk '/=> \//{print $3} $1 ~ /^\//{print $1}')
echo "$LIBS" | grep -q libopeniscsiusr || die "ldd did not resolve libopeniscsiusr"
for l in $LIBS; do
  case $l in */ld-linux-x86-64.so.2) cp -L "$l" "$R/lib64/" ;; *) mkdir -p "$R/lib/x86_64-linux-gnu"; cp -L "$l" "$R/lib/x86_64-linux-gnu/" ;; esac
done
mkdir -p "$R/etc/iscsi"
cp "$KM"/load-order "$R/etc/modules"
for m in $(cat "$KM/load-order"); do cp "$KM/ko/$m.ko" "$R/lib/modules/"; done
cp "$HERE/rootfs/initrd-init" "$R/init"; chmod 0755 "$R/init"
echo "$KPKG" > "$R/etc/bootgate-rootdisk"
find "$R" -exec touch -h -d "@$EPOCH" {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet --reproducible | gzip -9 -n) > "$CACHE/initrd.gz"

# --- 5. the root filesystem tree ---------------------------------------------------------------------------------
T=$CACHE/root-tree
rm -rf "$T"; mkdir -p "$T"/{bin,sbin,dev,proc,sys,etc,run,tmp,root,var/log,var/lib/bootgate-boots,mnt}
cp /bin/busybox "$T/bin/busybox"; mkdir -p "$T/usr/bin" "$T/usr/sbin"
cp "$HERE/rootfs/init" "$T/sbin/init"; chmod 0755 "$T/sbin/init"
# applet links, as the package's would be; relative, so nothing written into the tree afterwards can follow one
# out of it (an absolute /bin/busybox link is the build host's busybox)
for a in $(/bin/busybox --list-full); do
  [ -e "$T/$a" ] || [ -L "$T/$a" ] || ln -s "$(realpath --relative-to="$T/$(dirname "$a")" "$T/bin/busybox")" "$T/$a"
done
mknod -m 600 "$T/dev/console" c 5 1; mknod -m 666 "$T/dev/null" c 1 3
chmod 1777 "$T/tmp"
printf 'bootgate root-on-iSCSI demo OS (busybox-static %s, %s)\n' "$(dpkg-query -W -f '${Version}' busybox-static)" "$KPKG" > "$T/etc/bootgate-os"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$T/etc/passwd"
echo bgroot > "$T/etc/hostname"
find "$T" -exec touch -h -d "@$EPOCH" {} +

# --- 6. the disk ---------------------------------------------------------------------------------------------------
IMG=$OUT/rootdisk.img.tmp
rm -f "$IMG"; truncate -s ${SIZE_MIB}M "$IMG"
printf 'label: dos\nlabel-id: 0xb0076a7f\nstart=%s, size=%s, type=ef, bootable\nstart=%s, size=%s, type=83\n' \
  $P1_START $P1_SECTORS $P2_START $P2_SECTORS | sfdisk -q "$IMG"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none
OFF=$((P1_START * 512))
mkfs.fat -F 16 -i $VOLID -n BGBOOT --offset $P1_START "$IMG" $((P1_SECTORS / 2)) >/dev/null
syslinux --install --offset $OFF "$IMG"
cat > "$CACHE/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT rootdisk
PROMPT 0
TIMEOUT 1
LABEL rootdisk
  KERNEL vmlinuz
  APPEND initrd=initrd.gz $CMDLINE
CFG
printf 'timeout 0\ndefault rootdisk.conf\n' > "$CACHE/loader.conf"
printf 'title bootgate root-on-iSCSI OS\nlinux /vmlinuz\ninitrd /initrd.gz\noptions %s\n' "$CMDLINE" > "$CACHE/rootdisk.conf"
M="mmd -i $IMG@@$OFF"; C="mcopy -i $IMG@@$OFF"
$M ::EFI ::EFI/BOOT ::loader ::loader/entries
$C "$CACHE/syslinux.cfg" ::syslinux.cfg
$C "$EFI" ::EFI/BOOT/BOOTX64.EFI
$C "$CACHE/loader.conf" ::loader/loader.conf
$C "$CACHE/rootdisk.conf" ::loader/entries/rootdisk.conf
$C "$OUT/vmlinuz" ::vmlinuz
$C "$CACHE/initrd.gz" ::initrd.gz
# ext4 from the tree, at partition 2's offset (mke2fs -d; E2FSPROGS_FAKE_TIME and fixed UUID/hash seed: stable metadata)
E2FSPROGS_FAKE_TIME=$EPOCH mke2fs -q -F -t ext4 -L bgroot -U $ROOT_UUID -E offset=$((P2_START * 512)),hash_seed=$ROOT_UUID,root_owner=0:0 \
  -d "$T" "$IMG" $((P2_SECTORS / 2))k
mv "$IMG" "$OUT/rootdisk.img"
echo "$STAMP" > "$CACHE/stamp"
log "built $OUT/rootdisk.img ($SIZE_MIB MiB: FAT16 boot with SYSLINUX + systemd-boot, ext4 root; modules $(tr '\n' ' ' < "$KM/load-order"))"
echo "$OUT/rootdisk.img"

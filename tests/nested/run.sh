#!/usr/bin/env bash
# The nested KVM tests' entry point on L0 (an x86_64 machine without /dev/kvm):
#   tests/nested/run.sh PETREL_ARM64_BINARY [CASE...]
# Packs petrel, a guest kernel and initramfs (with the kernel's virtio modules), an ext4 root
# file system image (/guest/rootfs.ext4), virtiofsd with its libraries (the share cases), the
# bare-metal test guests (tests/guests/,
# as /guest/<name>.img) and the case scripts into an initramfs for L1, an arm64 Linux
# that QEMU emulates with EL2 so it has a real /dev/kvm; boots it; reads the
# `RESULT <case> ...` lines its console prints; prints one line per case and
# "N passed, M failed". Exit 0 only when every selected case passed; on any failure the
# whole L1 console log is printed first. CASE is a name such as boot-1cpu (the file
# cases/NN-boot-1cpu.sh); no CASE runs all. The recipe: NESTED-KVM.md in shared/.
#
# Environment: NESTED_PETREL_TIMEOUT (s, one petrel run inside L1, default 60),
# NESTED_CASE_TIMEOUT (s, one case inside L1, default 90; a case file may set its own with
# a "# case-timeout: N" line), NESTED_L1_TIMEOUT (s, the whole L1 run, default 60 plus
# every selected case's limit), NESTED_VERBOSE=1 (stream L1's console while it runs),
# NESTED_BUILD (work folder, default build/nested), PETREL_CACHE (see fetch-artifacts.sh),
# NESTED_PETREL_FLAGS (petrel's global flags for every run, e.g. -v or -vv: more on stderr;
# cases that check stderr for "error" still hold, info and debug lines never say it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() {
  echo "usage: $0 PETREL_ARM64_BINARY [CASE...]" >&2
  echo "cases: $(list_cases | cut -d: -f1 | tr '\n' ' ')" >&2
  exit 2
}
die() { echo "nested: $*" >&2; exit 2; }

list_cases() { # "name:file" for every case script, in file-name order
  local f base
  for f in "$here"/cases/[0-9]*-*.sh; do
    [ -e "$f" ] || continue
    base=$(basename "$f" .sh)
    echo "${base#*-}:$(basename "$f")"
  done
}

[ $# -ge 1 ] || usage
petrel=$1
shift
[ -f "$petrel" ] || die "no petrel binary at '$petrel' (build it with scripts/build.sh)"
if [ "$(head -c 4 "$petrel" | od -An -c | tr -d ' ')" = '177ELF' ]; then
  machine=$(od -An -t u2 -j 18 -N 2 "$petrel" | tr -d ' ')
  [ "$machine" = 183 ] || die "'$petrel' is an ELF file but not for aarch64 (e_machine $machine)"
fi
for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc cpio gzip timeout od; do
  command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/setup-debian.sh)"
done
PATH=$PATH:/sbin:/usr/sbin command -v mkfs.ext4 >/dev/null ||
  die "'mkfs.ext4' not found (e2fsprogs; run scripts/setup-debian.sh)"

petrel_timeout=${NESTED_PETREL_TIMEOUT:-60}
case_timeout=${NESTED_CASE_TIMEOUT:-$((petrel_timeout + 30))}

# --- which cases ---------------------------------------------------------------------------
mapfile -t all < <(list_cases)
[ ${#all[@]} -gt 0 ] || die "no case scripts in $here/cases"
selected=()
if [ $# -eq 0 ]; then
  selected=("${all[@]}")
else
  for want in "$@"; do
    want=$(basename "$want" .sh)
    match=
    for entry in "${all[@]}"; do
      name=${entry%%:*}
      file=${entry#*:}
      if [ "$want" = "$name" ] || [ "$want" = "${file%.sh}" ]; then match=$entry; fi
    done
    [ -n "$match" ] || { echo "nested: no case '$want'" >&2; usage; }
    selected+=("$match")
  done
fi

# --- artifacts and work folder -----------------------------------------------------------
cache=$("$here/fetch-artifacts.sh" | tail -n 1)
if [ ! -f "$cache/Image" ] || [ ! -f "$cache/busybox" ]; then
  die "fetch-artifacts.sh left no Image/busybox in '$cache'"
fi
work=${NESTED_BUILD:-$root/build/nested}
mkdir -p "$work"
work=$(cd "$work" && pwd)
l1root=$work/l1root
log=$work/l1-console.log
rm -rf "$l1root" "$work/l2root" "$log"

mkcpio() { "$here/mkinitramfs.sh" pack "$1" "$2"; }

echo "nested: building initramfs images in $work" >&2
# L2: the Linux guest petrel boots, with the kernel's virtio modules; the ext4 root file
# system for the blk-ext4-root case; the bare-metal test guests (tests/guests/).
modules=$(find "$cache/unpacked/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -n "$modules" ] || die "no lib/modules/<version> in $cache/unpacked/kernel"
rm -rf "$work/guests"
"$root/tests/guests/build.sh" "$work/guests"
L2_PROGRAMS="$work/guests/bin" "$here/mkinitramfs.sh" guest "$cache/busybox" \
  "$work/l2-initrd.cpio.gz" "$modules"
"$here/mkinitramfs.sh" ext4-root "$cache/busybox" "$work/rootfs.ext4"

# L1: the emulated host, carrying petrel, the L2 kernel and initramfs and the cases.
mkdir -p "$l1root/bin" "$l1root/guest" "$l1root/nested/cases" "$l1root/nested/configs"
cp "$cache/busybox" "$l1root/bin/busybox"
cp "$petrel" "$l1root/bin/petrel"
cp -L "$cache/Image" "$l1root/guest/Image"
cp "$work/l2-initrd.cpio.gz" "$l1root/guest/initrd.cpio.gz"
# The image-gz cases: the kernel as `make Image.gz` writes it, and its first half. Only
# when selected: they make L1's initramfs larger.
case " ${selected[*]} " in
  *" image-gz"*)
    gzip -9 -n -c "$cache/Image" >"$l1root/guest/Image.gz"
    gz_bytes=$(stat -c %s "$l1root/guest/Image.gz")
    head -c $((gz_bytes / 2)) "$l1root/guest/Image.gz" >"$l1root/guest/Image-truncated.gz"
    ;;
esac
# The kmod cases: Debian's generic arm64 kernel, whose modules include lib/test_*.ko (the
# cloud kernel has none), and an L2 initramfs holding only the test module. Only when
# selected: a 60 MB download (once) and a larger L1 initramfs.
case " ${selected[*]} " in
  *" kmod-"*)
    "$here/fetch-artifacts.sh" generic-kernel >/dev/null
    cp -L "$cache/Image-generic" "$l1root/guest/Image-generic"
    "$here/mkinitramfs.sh" guest "$cache/busybox" "$l1root/guest/kmod-initrd.cpio.gz" "" \
      "$cache"/unpacked/kernel-generic/lib/modules/*/kernel/lib/test_user_copy.ko
    ;;
esac
# The control-socket cases: a client that is not petrel's own. Debian has no static curl
# (its curl needs some 25 shared libraries); OpenBSD netcat speaks to Unix sockets (`nc -U`)
# with two small libraries and glibc's libresolv, the request written by hand. Only when
# selected.
case " ${selected[*]} " in
  *" api-"* | *" power-key"*)
    "$here/fetch-artifacts.sh" netcat >/dev/null
    nc_pkgs=$cache/unpacked/netcat
    mkdir -p "$l1root/lib/aarch64-linux-gnu"
    cp "$nc_pkgs/netcat-openbsd/bin/nc.openbsd" "$l1root/bin/nc.openbsd"
    chmod 755 "$l1root/bin/nc.openbsd"
    cp -L "$nc_pkgs/libbsd0/usr/lib/aarch64-linux-gnu/libbsd.so.0" \
      "$nc_pkgs/libmd0/usr/lib/aarch64-linux-gnu/libmd.so.0" "$l1root/lib/aarch64-linux-gnu/"
    found=$(find "$cache/unpacked/virtiofsd/libc6" -name libresolv.so.2 | head -n 1)
    [ -n "$found" ] || die "no libresolv.so.2 in $cache/unpacked/virtiofsd/libc6"
    cp -L "$found" "$l1root/lib/aarch64-linux-gnu/libresolv.so.2"
    ;;
esac
# The power-key case: the generic kernel again (the cloud kernel has no gpio-keys driver)
# with an L2 initramfs holding gpio_keys.ko and evdev.ko, and whatever modules their
# depends= lines name (read here, not assumed; the guest loads them in that order itself).
case " ${selected[*]} " in
  *" power-key"*)
    "$here/fetch-artifacts.sh" generic-kernel >/dev/null
    cp -L "$cache/Image-generic" "$l1root/guest/Image-generic"
    gmods=$(echo "$cache"/unpacked/kernel-generic/lib/modules/*/kernel)
    kos=()
    for ko in "$gmods/drivers/input/keyboard/gpio_keys.ko" "$gmods/drivers/input/evdev.ko"; do
      kos+=("$ko")
      for dep in $(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
        kos+=("$(find "$gmods" -name "$dep.ko" -o -name "${dep//_/-}.ko" | head -n 1)")
      done
    done
    "$here/mkinitramfs.sh" guest "$cache/busybox" "$l1root/guest/powerkey-initrd.cpio.gz" "" \
      "${kos[@]}"
    ;;
esac
cp "$work/rootfs.ext4" "$l1root/guest/rootfs.ext4"
cp "$work"/guests/*.img "$l1root/guest/"
# The tap driver for the net cases (a module in the cloud kernel, no dependencies), which
# L1's init loads.
mkdir -p "$l1root/lib/modules"
if [ -f "$modules/kernel/drivers/net/tun.ko" ]; then
  cp "$modules/kernel/drivers/net/tun.ko" "$l1root/lib/modules/"
else
  echo "nested: warning: no tun.ko in $modules (the net cases will fail)" >&2
fi
# virtiofsd for the share cases, a dynamically linked arm64 program: where petrel looks for
# it, with the loader and libraries it needs in the multiarch folder the loader searches.
vfs=$cache/unpacked/virtiofsd
mkdir -p "$l1root/usr/lib/qemu" "$l1root/lib/aarch64-linux-gnu"
cp "$vfs/qemu-system-common/usr/lib/qemu/virtiofsd" "$l1root/usr/lib/qemu/virtiofsd"
for lib in ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libseccomp.so.2 libcap-ng.so.0 \
  libglib-2.0.so.0 libgmodule-2.0.so.0 libnuma.so.1 libpcre2-8.so.0; do
  found=$(find "$vfs" -name "$lib" -path '*aarch64-linux-gnu*' | head -n 1)
  [ -n "$found" ] || die "no $lib among the virtiofsd packages in $vfs"
  cp -L "$found" "$l1root/lib/aarch64-linux-gnu/$lib"
done
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$l1root/lib/ld-linux-aarch64.so.1"
cp "$here/l1-init.sh" "$l1root/init"
cp "$here/lib.sh" "$l1root/nested/lib.sh"
cp "$here"/configs/*.toml "$l1root/nested/configs/"
chmod 755 "$l1root/init" "$l1root/bin/busybox" "$l1root/bin/petrel"
bound=60
case_list=()
names=()
for entry in "${selected[@]}"; do
  name=${entry%%:*}
  file=${entry#*:}
  secs=$(sed -n 's/^# case-timeout: *\([0-9][0-9]*\).*/\1/p' "$here/cases/$file" | head -n 1)
  secs=${secs:-$case_timeout}
  cp "$here/cases/$file" "$l1root/nested/cases/$file"
  case_list+=("$name:$file:$secs")
  names+=("$name")
  bound=$((bound + secs))
done
{
  echo "# written by tests/nested/run.sh"
  echo "NESTED_CASES='${case_list[*]}'"
  echo "NESTED_PETREL_TIMEOUT=$petrel_timeout"
  echo "NESTED_PETREL_FLAGS='${NESTED_PETREL_FLAGS:-}'"
} >"$l1root/nested/settings"
bound=${NESTED_L1_TIMEOUT:-$bound}
mkcpio "$l1root" "$work/l1-initrd.cpio.gz"

# --- boot L1 -------------------------------------------------------------------------------
echo "nested: booting L1 for ${#names[@]} case(s): ${names[*]} (bound ${bound}s, console log $log)" >&2
# shellcheck source=scripts/l1-qemu.sh
. "$root/scripts/l1-qemu.sh"
l1_qemu "$cache/Image" "$work/l1-initrd.cpio.gz"
qemu=("${L1_QEMU[@]}")
start=$(date +%s)
set +e
if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
  timeout --kill-after=10 "$bound" "${qemu[@]}" </dev/null 2>&1 | tee "$log"
  qemu_rc=${PIPESTATUS[0]}
else
  timeout --kill-after=10 "$bound" "${qemu[@]}" </dev/null >"$log" 2>&1
  qemu_rc=$?
fi
set -e
elapsed=$(($(date +%s) - start))

# --- results -------------------------------------------------------------------------------
clean=$work/l1-console.txt
tr -d '\r' <"$log" >"$clean"
lines=()
passed=0
failed=0
for name in "${names[@]}"; do
  result=$(grep -m 1 -E "^RESULT ${name} (PASS|FAIL)( |\$)" "$clean" || true)
  if [ "$result" = "RESULT $name PASS" ]; then
    lines+=("PASS $name")
    passed=$((passed + 1))
  else
    if [ -n "$result" ]; then
      reason=${result#"RESULT $name FAIL"}
      reason=${reason# }
      [ -n "$reason" ] || reason="(no reason given)"
    elif [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
      reason="no result: L1 still running after ${bound}s, killed"
    else
      reason="no result: L1 ended (qemu exit $qemu_rc) before reporting it"
    fi
    lines+=("FAIL $name $reason")
    failed=$((failed + 1))
  fi
done

echo "nested: L1 ran ${elapsed}s, qemu exit $qemu_rc" >&2
if [ "$failed" -gt 0 ]; then
  echo "===== L1 console log ($log) ====="
  cat "$clean"
  echo "===== end of L1 console log ====="
fi
printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

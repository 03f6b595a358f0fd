#!/usr/bin/env bash
# bench/run.sh [--runs N] [--warmup N] [--smoke] [--only KINDS] [--disk-mib N] [--petrel PATH]
#              [--kvmtool PATH] [--json FILE]:
# petrel against QEMU on the same guest, the figures of issue #6 and issue #12's PSCI figure,
# on this x86_64 machine (L0) without /dev/kvm.
#
# It boots an emulated arm64 host (L1, QEMU TCG with EL2, so it has a real /dev/kvm; the
# QEMU line of scripts/l1-qemu.sh) whose /init (bench/l1-init.sh) boots one L2 guest
# (Debian's cloud arm64 kernel, a busybox initramfs with bench/l2-init.sh, 1 vCPU, 256M,
# `quiet`, powers off as soon as its /init printed PETREL-GUEST-INIT-OK) alternately with
# petrel and with Debian's own arm64 QEMU (qemu-system-arm:arm64 and its libraries,
# unpacked by bench/fetch-qemu.sh, run through their own loader), N runs each, every run
# measured by bench/measure.c; then, for figure 5, the same guest with the virtio modules
# and one raw drive image writes and reads the whole disk (dd, 1 MiB, O_DIRECT), again
# alternately with both launchers; then, for figure 7, a bare-metal guest that calls PSCI
# SYSTEM_OFF at its first instruction (tests/guests/psci.S: the launcher's own start and
# teardown), with petrel, QEMU and, when given, kvmtool. It prints a plain table (min /
# median / max per figure and launcher, the petrel/QEMU ratio of medians, the issue's
# targets as met/missed) and writes the same as JSON. How each figure is measured:
# bench/README.md.
#
#   --runs N     measured runs per launcher (default 5)
#   --warmup N   unmeasured runs per launcher first (default 1; 0 with --smoke)
#   --smoke      one run each, no warm-up, an 8 MiB drive (unless --disk-mib): for CI
#   --only KINDS only these kinds of runs, a comma list of boot (figures 1-4, 6), disk
#                (figure 5) and psci (figure 7); default all three
#   --disk-mib N size of figure 5's drive image, the amount written and read (default 64)
#   --petrel PATH the arm64 petrel to measure (default $PETREL, else build/arm64/petrel)
#   --kvmtool PATH a static arm64 kvmtool (lkvm) as a third launcher for figure 7 only
#                (default $BENCH_KVMTOOL; none when unset)
#   --json FILE  where the JSON goes (default build/bench/results.json)
#
# Not a pass/fail test: missed targets do not fail it. Exit status 1 only when a launcher
# failed to boot the guest, its disk test failed or a PSCI run did not exit 0, L1 did not
# report every run, or its output could not be parsed; 2 on a usage or setup error.
#
# Environment: PETREL (the arm64 petrel when no --petrel; default build/arm64/petrel, built
# when missing), BENCH_KVMTOOL (kvmtool when no --kvmtool), PETREL_CACHE (downloads,
# default .cache/), BENCH_BUILD (work folder, default build/bench), BENCH_RUN_TIMEOUT (s,
# one launcher run inside L1, default 120), BENCH_PSCI_TIMEOUT (s, one figure-7 run,
# default 60), BENCH_QEMU_CPU (QEMU's -cpu, default host,pauth=off,sve=off,pmu=off: the
# vCPU features petrel gives its guests; "host" for QEMU's own defaults, see
# bench/README.md), BENCH_L1_TIMEOUT (s, the whole L1 boot; default from the run count),
# BENCH_VERBOSE=1 (stream L1's whole console), BENCH_TRACE=N (after figure 7's runs, N more
# petrel runs of its guest traced with ftrace, not measured: build/bench/psci-trace.txt
# gets one timeline of system calls and kernel events per run; bench/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
  awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
}
die() { echo "bench: $*" >&2; exit 2; }

runs=5 warmup='' smoke=0 json='' disk_mib='' petrel_arg='' only=boot,disk,psci kvmtool_arg=''
while [ $# -gt 0 ]; do
  case $1 in
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --runs=*) runs=${1#*=}; shift ;;
    --warmup) [ $# -ge 2 ] || usage; warmup=$2; shift 2 ;;
    --warmup=*) warmup=${1#*=}; shift ;;
    --smoke) smoke=1; shift ;;
    --disk-mib) [ $# -ge 2 ] || usage; disk_mib=$2; shift 2 ;;
    --disk-mib=*) disk_mib=${1#*=}; shift ;;
    --petrel) [ $# -ge 2 ] || usage; petrel_arg=$2; shift 2 ;;
    --petrel=*) petrel_arg=${1#*=}; shift ;;
    --kvmtool) [ $# -ge 2 ] || usage; kvmtool_arg=$2; shift 2 ;;
    --kvmtool=*) kvmtool_arg=${1#*=}; shift ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --json) [ $# -ge 2 ] || usage; json=$2; shift 2 ;;
    --json=*) json=${1#*=}; shift ;;
    -h | --help) usage ;;
    *) echo "bench: unknown argument '$1'" >&2; usage ;;
  esac
done
if [ "$smoke" = 1 ]; then runs=1 warmup=${warmup:-0} disk_mib=${disk_mib:-8}; fi
warmup=${warmup:-1}
disk_mib=${disk_mib:-64}
case $runs in '' | *[!0-9]* | 0) die "--runs wants a positive number, not '$runs'" ;; esac
case $warmup in '' | *[!0-9]*) die "--warmup wants a number, not '$warmup'" ;; esac
case $disk_mib in '' | *[!0-9]* | 0*) die "--disk-mib wants a positive number, not '$disk_mib'" ;; esac
[ "$disk_mib" -le 512 ] || die "--disk-mib $disk_mib: at most 512 (the image lives in L1's tmpfs, half its 2 GiB)"
# The kinds of runs: boot (figures 1-4, 6), disk (figure 5), psci (figure 7).
do_boot=0 do_disk=0 do_psci=0
IFS=, read -r -a kinds <<<"$only"
for k in "${kinds[@]}"; do
  case $k in
    boot) do_boot=1 ;;
    disk) do_disk=1 ;;
    psci) do_psci=1 ;;
    *) die "--only wants a comma list of boot, disk, psci, not '$only'" ;;
  esac
done
[ $((do_boot + do_disk + do_psci)) -gt 0 ] || die "--only wants a comma list of boot, disk, psci, not '$only'"
only=
[ $do_boot = 0 ] || only=boot
[ $do_disk = 0 ] || only=${only:+$only,}disk
[ $do_psci = 0 ] || only=${only:+$only,}psci

for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc cpio gzip timeout awk readelf dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/setup-debian.sh)"
done

work=${BENCH_BUILD:-$root/build/bench}
mkdir -p "$work"
work=$(cd "$work" && pwd)
json=${json:-$work/results.json}
run_timeout=${BENCH_RUN_TIMEOUT:-120}
psci_timeout=${BENCH_PSCI_TIMEOUT:-60}
case $run_timeout in '' | *[!0-9]* | 0) die "BENCH_RUN_TIMEOUT wants a positive number of seconds" ;; esac
case $psci_timeout in '' | *[!0-9]* | 0) die "BENCH_PSCI_TIMEOUT wants a positive number of seconds" ;; esac
traced=${BENCH_TRACE:-0}
case $traced in '' | *[!0-9]*) die "BENCH_TRACE wants a number of traced runs, not '$traced'" ;; esac
[ "$traced" = 0 ] || [ "$do_psci" = 1 ] || die "BENCH_TRACE traces figure 7's guest; --only $only has no psci"
ram=$((256 << 20))
psci_ram=$((64 << 20))  # figure 7: the smallest guest RAM petrel accepts (core/config.h)
qemu_cpu=${BENCH_QEMU_CPU:-host,pauth=off,sve=off,pmu=off}
case $qemu_cpu in *[!A-Za-z0-9,=_-]* | '') die "BENCH_QEMU_CPU '$qemu_cpu' is not a -cpu value" ;; esac
cmdline="quiet panic=-1 guest_cmd=poweroff"
blk_cmdline="quiet panic=-1 guest_cmd=blk"

# --- inputs ----------------------------------------------------------------------------
petrel=${petrel_arg:-${PETREL:-$root/build/arm64/petrel}}
if [ ! -f "$petrel" ] && [ -z "$petrel_arg" ] && [ -z "${PETREL:-}" ]; then
  echo "bench: no $petrel, building it (scripts/build.sh)" >&2
  "$root/scripts/build.sh" >&2
fi
[ -f "$petrel" ] || die "no petrel binary at '$petrel'"
[ "$(od -An -t u2 -j 18 -N 2 "$petrel" | tr -d ' ')" = 183 ] || die "'$petrel' is not an aarch64 ELF file"
# kvmtool: only for figure 7, only when asked for. It must run in L1 as it is, so static.
kvmtool=${kvmtool_arg:-${BENCH_KVMTOOL:-}}
if [ -n "$kvmtool" ]; then
  [ "$do_psci" = 1 ] || die "kvmtool ($kvmtool) runs only in figure 7; --only $only has no psci"
  [ -f "$kvmtool" ] || die "no kvmtool binary at '$kvmtool'"
  [ "$(od -An -t u2 -j 18 -N 2 "$kvmtool" | tr -d ' ')" = 183 ] || die "'$kvmtool' is not an aarch64 ELF file"
  interp=$(readelf -l "$kvmtool" 2>/dev/null | grep -c INTERP || true)
  [ "$interp" = 0 ] || die "'$kvmtool' is dynamically linked; L1 has no libraries for it (make lkvm-static)"
fi

cache=$("$root/tests/nested/fetch-artifacts.sh" | tail -n 1) || die "tests/nested/fetch-artifacts.sh failed"
{ [ -f "$cache/Image" ] && [ -f "$cache/busybox" ]; } || die "fetch-artifacts.sh left no Image/busybox in '$cache'"
# The guest kernel's virtio modules, for figure 5 (load order: bench/l2-init.sh).
modules=
for m in "$cache/unpacked/kernel/lib/modules/"*/kernel; do [ -d "$m" ] && modules=$m && break; done
blk_modules="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko"
for m in $blk_modules; do
  [ $do_disk = 0 ] || [ -f "$modules/$m" ] || die "no $m under the guest kernel's modules ('$cache/unpacked/kernel/lib/modules')"
done

l1root=$work/l1root
log=$work/l1-console.log
clean=$work/l1-console.txt
rm -rf "$l1root" "$log" "$clean"
mkdir -p "$l1root/bin" "$l1root/guest" "$l1root/bench"
PETREL_CACHE=$cache "$here/fetch-qemu.sh" "$l1root/qemu" || die "cannot put Debian's arm64 QEMU together"
aarch64-linux-gnu-gcc -static -O2 -Wall -o "$l1root/bin/measure" "$here/measure.c" || die "cannot build measure.c"
# The guest initramfs: busybox and bench/l2-init.sh (figures 1-4, 6); the same plus the
# virtio modules for figure 5, a separate image so the boot figures' guest stays as small.
l2root=$work/l2root
rm -rf "$l2root"
cp -L "$cache/busybox" "$l1root/bin/busybox"
cp "$petrel" "$l1root/bin/petrel"
if [ $do_boot = 1 ] || [ $do_disk = 1 ]; then  # figure 7's guest needs neither kernel nor initramfs
  mkdir -p "$l2root/bin"
  cp -L "$cache/busybox" "$l2root/bin/busybox"
  cp "$here/l2-init.sh" "$l2root/init"
  chmod 755 "$l2root/bin/busybox" "$l2root/init"
  "$root/tests/nested/mkinitramfs.sh" pack "$l2root" "$work/l2-initrd.cpio.gz" || die "cannot build the guest initramfs"
  mkdir -p "$l2root/lib/modules"
  for m in $blk_modules; do cp "$modules/$m" "$l2root/lib/modules/"; done
  "$root/tests/nested/mkinitramfs.sh" pack "$l2root" "$work/l2-initrd-blk.cpio.gz" || die "cannot build the guest initramfs"
  rm -rf "$l2root"
  cp -L "$cache/Image" "$l1root/guest/Image"
  cp "$work/l2-initrd.cpio.gz" "$l1root/guest/initrd.cpio.gz"
  cp "$work/l2-initrd-blk.cpio.gz" "$l1root/guest/initrd-blk.cpio.gz"
fi
# Figure 7's guest: tests/guests/psci.S, a raw arm64 Image that calls PSCI SYSTEM_OFF first.
if [ $do_psci = 1 ]; then
  "$root/tests/guests/build.sh" "$work/guests" || die "cannot assemble tests/guests (binutils-aarch64-linux-gnu)"
  cp "$work/guests/psci-off.img" "$l1root/guest/psci-off.img"
  if [ -n "$kvmtool" ]; then
    cp "$kvmtool" "$l1root/bin/lkvm"
    chmod 755 "$l1root/bin/lkvm"
  fi
fi
cp "$here/l1-init.sh" "$l1root/init"
chmod 755 "$l1root/init" "$l1root/bin/busybox" "$l1root/bin/petrel" "$l1root/bin/measure"
cat >"$l1root/bench/petrel.toml" <<EOF
# written by bench/run.sh: the benchmark guest
name = "bench"

[machine]
vcpus = 1
memory = "$((ram >> 20))M"

[boot]
kernel = "/guest/Image"
initrd = "/guest/initrd.cpio.gz"
cmdline = "console=ttyAMA0 $cmdline"
EOF
cat >"$l1root/bench/petrel-blk.toml" <<EOF
# written by bench/run.sh: the benchmark guest of figure 5 (virtio-blk throughput)
name = "bench-blk"

[machine]
vcpus = 1
memory = "$((ram >> 20))M"

[boot]
kernel = "/guest/Image"
initrd = "/guest/initrd-blk.cpio.gz"
cmdline = "console=ttyAMA0 $blk_cmdline"

[[drive]]
path = "/tmp/bench/disk.img"
read_only = false
EOF
cat >"$l1root/bench/petrel-psci.toml" <<EOF
# written by bench/run.sh: figure 7's guest (tests/guests/psci.S: PSCI SYSTEM_OFF at once)
name = "bench-psci"

[machine]
vcpus = 1
memory = "$((psci_ram >> 20))M"

[boot]
kernel = "/guest/psci-off.img"

[console]
mode = "none"
EOF
cat >"$l1root/bench/settings" <<EOF
# written by bench/run.sh
BENCH_RUNS=$runs
BENCH_WARMUP=$warmup
BENCH_RUN_TIMEOUT=$run_timeout
BENCH_RAM=$ram
BENCH_CMDLINE='$cmdline'
BENCH_QEMU_CPU=$qemu_cpu
BENCH_DISK_MIB=$disk_mib
BENCH_BLK_CMDLINE='$blk_cmdline'
BENCH_KINDS=$only
BENCH_PSCI_TIMEOUT=$psci_timeout
BENCH_PSCI_RAM=$psci_ram
BENCH_KVMTOOL=$([ -n "$kvmtool" ] && echo 1 || echo 0)
BENCH_TRACE=$traced
EOF
"$root/tests/nested/mkinitramfs.sh" pack "$l1root" "$work/l1-initrd.cpio.gz"
qemu_deb=$(sed -n 's/^\(qemu-system-arm_.*\.deb\)$/\1/p' "$l1root/qemu/PACKAGES")
rm -rf "$l1root"

# --- boot L1 ---------------------------------------------------------------------------
# Per launcher run at most its time bound (+5 s for the SIGKILL); per round two boot runs
# (petrel, QEMU), two disk runs and two or three PSCI runs (kvmtool too), as far as --only
# has them; plus L1's own boot and unpacking.
launchers=2
[ -z "$kvmtool" ] || launchers=3
per_round=$(((do_boot + do_disk) * 2 * (run_timeout + 5) + do_psci * launchers * (psci_timeout + 5)))
bound=${BENCH_L1_TIMEOUT:-$((180 + (runs + warmup) * per_round + traced * (psci_timeout + 5)))}
echo "bench: booting L1: $runs measured run(s) + $warmup warm-up per launcher and figure" \
  "(runs: $only${kvmtool:+, kvmtool in figure 7}; ${disk_mib} MiB drive; bound ${bound}s, console log $log)" >&2
# shellcheck source=scripts/l1-qemu.sh
. "$root/scripts/l1-qemu.sh"
l1_qemu "$cache/Image" "$work/l1-initrd.cpio.gz"
qemu=("${L1_QEMU[@]}")
progress() { # one stderr line per finished run while L1 works (or all of it: BENCH_VERBOSE=1)
  local line field summary
  while IFS= read -r line; do
    line=${line%$'\r'}
    if [ "${BENCH_VERBOSE:-0}" = 1 ]; then echo "$line" >&2; continue; fi
    case $line in
      BENCH-L1-UP\ *) echo "bench: L1 up: ${line#BENCH-L1-UP }" >&2 ;;
      BENCH-LOG\ *) echo "bench: $line" >&2 ;;
      BENCH-RESULT\ *)
        summary=
        for field in $line; do
          case $field in
            launcher=* | run=* | phase=* | exit=* | marker_ms=* | exit_ms=* | kvm_run_ms=* | measure_failed=*)
              summary="$summary $field" ;;
          esac
        done
        echo "bench:$summary" >&2 ;;
      BENCH-BLK-RESULT\ *)
        summary=
        for field in $line; do
          case $field in
            launcher=* | run=* | phase=* | exit=* | guest_ok=* | write_mb_s=* | read_mb_s=* | measure_failed=*)
              summary="$summary $field" ;;
          esac
        done
        echo "bench: blk$summary" >&2 ;;
      BENCH-PSCI-RESULT\ *)
        summary=
        for field in $line; do
          case $field in
            launcher=* | run=* | phase=* | exit=* | exit_ms=* | kvm_run_ms=* | measure_failed=*)
              summary="$summary $field" ;;
          esac
        done
        echo "bench: psci$summary" >&2 ;;
    esac
  done
}
start=$(date +%s)
set +e
timeout --kill-after=10 "$bound" "${qemu[@]}" </dev/null 2>&1 | tee "$log" | progress
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - start))
tr -d '\r' <"$log" >"$clean"
echo "bench: L1 ran ${elapsed}s, qemu exit $qemu_rc" >&2
if [ "$traced" -gt 0 ]; then
  awk -f "$here/trace.awk" "$clean" >"$work/psci-trace.txt"
  echo "bench: $(grep -c '^# petrel PSCI run' "$work/psci-trace.txt" || true) traced petrel run(s) of figure 7's guest: $work/psci-trace.txt" >&2
fi

# --- figures ---------------------------------------------------------------------------
set +e
awk -v runs="$runs" -v warmup="$warmup" -v smoke="$smoke" -v json="$json" -v qemu_rc="$qemu_rc" \
  -v l1_seconds="$elapsed" -v qemu_deb="$qemu_deb" -v petrel_path="$petrel" \
  -v ram_mib="$((ram >> 20))" -v cmdline="$cmdline" -v qemu_cpu="$qemu_cpu" -v disk_mib="$disk_mib" \
  -v blk_cmdline="$blk_cmdline" -v kinds="$only" -v kvmtool_path="$kvmtool" \
  -v psci_ram_mib="$((psci_ram >> 20))" -f "$here/report.awk" "$clean"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "===== L1 console log ($log) =====" >&2
  tail -n 200 "$clean" >&2
  echo "===== end of L1 console log =====" >&2
fi
exit "$rc"

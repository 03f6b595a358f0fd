#!/bin/busybox sh
# shellcheck shell=dash
# /init of L1 for the benchmark (bench/run.sh): the emulated arm64 host with a real
# /dev/kvm. It boots the same L2 guest (kernel, initramfs, 1 vCPU, 256M, `quiet`, powers
# off as soon as its /init is up) with petrel and with Debian's QEMU, alternately, each
# run under /bin/measure (bench/measure.c), and prints one line per run on the console:
#
#   BENCH-RESULT launcher=petrel|qemu run=N phase=warmup|measured MEASURE-FIELDS... kvm_run_ms=...
#
# kvm_run_ms (exec -> first KVM_RUN) comes from the kernel, the same way for both
# launchers: the syscalls:sys_enter_ioctl tracepoint, filtered on cmd == KVM_RUN (0xae80),
# with a traceoff trigger so that only the first one is recorded, on the "mono" trace
# clock, against the exec time measure took with CLOCK_MONOTONIC. measure (-T) turns the
# event off again as soon as it fired, so the tracepoint's cost on every syscall ends at
# the first KVM_RUN.
# A run that did not boot also gets BENCH-LOG lines (the tail of its stdout and stderr).
#
# Figure 5 (virtio-blk throughput) has runs of its own, after each round's boot runs and
# alternating the same way: the same launchers with one raw drive image (BENCH_DISK_MIB
# MiB in L1's tmpfs, /tmp/bench/disk.img, the same file for both) and the guest command
# line's guest_cmd=blk, whose /init (bench/l2-init.sh) writes and then reads the whole disk
# with dd and prints its own timings; one line per run:
#
#   BENCH-BLK-RESULT launcher=petrel|qemu run=N phase=... exit=... marker_ms=... exit_ms=...
#     timed_out=... bytes=... write_rc=... write_us=... write_records=... read_rc=...
#     read_us=... read_records=... clock=... write_mb_s=... read_mb_s=...
#
# (guest_ok=0 and no guest fields when the guest printed no BENCH-BLK line.)
#
# Figure 7 (the launcher's own start and teardown) has runs of its own too, last in each
# round: a bare-metal guest (/guest/psci-off.img, tests/guests/psci.S) that calls PSCI
# SYSTEM_OFF at its first instruction, 1 vCPU, 64 MiB, no console, with petrel, QEMU and,
# when run.sh put one in (BENCH_KVMTOOL=1), kvmtool (/bin/lkvm), the order rotating from
# round to round; one line per run, measure's fields plus kvm_run_ms as above:
#
#   BENCH-PSCI-RESULT launcher=petrel|qemu|kvmtool run=N phase=... MEASURE-FIELDS... kvm_run_ms=...
#
# BENCH_KINDS (boot, disk, psci: run.sh --only) says which of the three kinds of runs happen.
#
# BENCH_TRACE=N (run.sh's environment, default 0): after the rounds, N more petrel runs of
# figure 7's guest, traced and not measured: every system call of petrel's threads, process
# events and a few kprobes (kvm_destroy_vm, exit_mmap, clear_huge_page, do_notify_parent)
# on the mono trace clock, printed raw between BENCH-TRACE-BEGIN and BENCH-TRACE-END as
# BENCH-TRACE lines; run.sh turns them into timelines (bench/trace.awk).
# Then it powers off, which ends QEMU on L0 (-no-reboot). No `set -e`: as PID 1 this
# script must always reach the power-off.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
exec </dev/console >/dev/console 2>&1

# BENCH_RUNS, BENCH_WARMUP, BENCH_RUN_TIMEOUT, BENCH_RAM, BENCH_CMDLINE, BENCH_QEMU_CPU,
# BENCH_DISK_MIB, BENCH_BLK_CMDLINE, BENCH_KINDS, BENCH_PSCI_TIMEOUT, BENCH_PSCI_RAM,
# BENCH_KVMTOOL, BENCH_TRACE
# shellcheck source=/dev/null
. /bench/settings

QEMU="/qemu/lib/ld-linux-aarch64.so.1 --library-path /qemu/lib /qemu/usr/bin/qemu-system-aarch64"
# The guest QEMU boots: the same kernel, initramfs, vCPUs, RAM and command line as petrel's
# (bench/petrel.toml is written by run.sh from the same settings): both consoles are a
# PL011 at 0x0900_0000, ttyAMA0. -nodefaults: no default NIC,
# monitor, serial or display; the serial is the PL011 on stdout. The vCPU model is
# BENCH_QEMU_CPU (bench/README.md: why pointer authentication is off by default).
QEMU_ARGS="-nodefaults -no-user-config -display none -serial stdio -no-reboot -accel kvm
  -cpu $BENCH_QEMU_CPU -M virt,gic-version=3 -smp 1 -m $((BENCH_RAM >> 20))M
  -kernel /guest/Image -initrd /guest/initrd.cpio.gz"
QEMU_CMDLINE="console=ttyAMA0 $BENCH_CMDLINE"
PETREL_CONFIG=/bench/petrel.toml
# Figure 5: the same, with the initramfs that holds the virtio modules and one drive: raw,
# QEMU's defaults otherwise (cache=writeback, aio=threads: through L1's page cache, as
# petrel's preadv/pwritev; cache=none needs O_DIRECT, which L1's tmpfs lacks), on
# virtio-mmio like petrel's (QEMU's virt board has virtio-mmio transports; bench/README.md).
DISK=/tmp/bench/disk.img
QEMU_BLK_ARGS="-nodefaults -no-user-config -display none -serial stdio -no-reboot -accel kvm
  -cpu $BENCH_QEMU_CPU -M virt,gic-version=3 -smp 1 -m $((BENCH_RAM >> 20))M
  -kernel /guest/Image -initrd /guest/initrd-blk.cpio.gz
  -drive file=$DISK,if=none,format=raw,id=d0 -device virtio-blk-device,drive=d0"
QEMU_BLK_CMDLINE="console=ttyAMA0 $BENCH_BLK_CMDLINE"
PETREL_BLK_CONFIG=/bench/petrel-blk.toml
# Figure 7: the PSCI SYSTEM_OFF guest, nothing but a vCPU, its RAM and the interrupt
# controller; no console device on QEMU's side (-nodefaults and no -serial), none on
# petrel's ([console] mode = "none"), none asked of kvmtool beyond its default 8250.
# kvmtool: --nodefaults (no 9p root file system of the host's / and its guest init in
# ~/.lkvm, no kernel command line of its own), -n mode=none (no user-mode virtio-net).
QEMU_PSCI_ARGS="-nodefaults -no-user-config -display none -no-reboot -accel kvm
  -cpu $BENCH_QEMU_CPU -M virt,gic-version=3 -smp 1 -m $((BENCH_PSCI_RAM >> 20))M
  -kernel /guest/psci-off.img"
KVMTOOL_PSCI_ARGS="run --nodefaults -n mode=none --console serial -c 1 -m $((BENCH_PSCI_RAM >> 20))
  -k /guest/psci-off.img"
PETREL_PSCI_CONFIG=/bench/petrel-psci.toml
kind() { case ",$BENCH_KINDS," in *",$1,"*) return 0 ;; esac; return 1; }

mkdir -p /tmp/bench
kvm=missing
[ -c /dev/kvm ] && kvm=present
qemu_version=$($QEMU --version 2>&1 | head -n 1 | tr ' ' '_')
echo "BENCH-L1-UP kernel=$(uname -r) cpus=$(grep -c '^processor' /proc/cpuinfo)" \
  "uptime_s=$(cut -d' ' -f1 /proc/uptime) kvm=$kvm qemu=${qemu_version:-unknown}" \
  "qemu_cpu=$BENCH_QEMU_CPU"
chmod +x /bin/petrel /bin/measure 2>/dev/null
# The drive image of figure 5, written out in full (no holes), in tmpfs.
if kind disk && ! dd if=/dev/zero of=$DISK bs=1M count="$BENCH_DISK_MIB" 2>/tmp/bench/disk.err; then
  echo "BENCH-WARNING cannot create the $BENCH_DISK_MIB MiB drive image: $(tail -n 1 /tmp/bench/disk.err)"
fi
# kvmtool keeps its control socket in $HOME/.lkvm (petrel and QEMU do not look at HOME).
export HOME=/tmp/bench/home
mkdir -p "$HOME"

# --- the first KVM_RUN, from the kernel's syscall tracepoint ------------------------------
T=/sys/kernel/tracing
EV=$T/events/syscalls/sys_enter_ioctl
tracer=0
if [ -d "$EV" ] && echo mono >"$T/trace_clock" 2>/dev/null; then tracer=1; fi
[ $tracer = 1 ] || echo "BENCH-WARNING no tracefs sys_enter_ioctl event or mono clock: no first-KVM_RUN figures"

arm_tracer() { # record the next KVM_RUN ioctl only
  [ $tracer = 1 ] || return
  echo 0 >"$T/tracing_on"
  echo 0 >"$EV/enable"
  echo '!traceoff' >"$EV/trigger" 2>/dev/null
  echo 0 >"$T/options/overwrite"
  if ! { echo 'cmd == 0xae80' >"$EV/filter" && echo 'traceoff:1 if cmd == 0xae80' >"$EV/trigger" &&
    echo 1 >"$EV/enable"; }; then
    tracer=0
    echo "BENCH-WARNING cannot arm the KVM_RUN tracepoint"
    return
  fi
  : >"$T/trace"
  echo 1 >"$T/tracing_on"
}
first_kvm_run() { # first_kvm_run EXEC_MONO_S: ms from exec to the recorded KVM_RUN, or -1
  if [ $tracer != 1 ]; then echo -1; return; fi
  echo 0 >"$T/tracing_on"
  echo 0 >"$EV/enable"   # no syscall tracepoint overhead between runs
  awk -v exec_s="$1" '
    /^#/ { next }
    { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { t = substr($i, 1, length($i) - 1); break } }
    t != "" { ms = (t - exec_s) * 1000; if (ms < 0) ms = -1; printf "%.3f\n", ms; found = 1; exit }
    END { if (!found) print -1 }' "$T/trace"
}

show_tail() { # show_tail FILE TAG: the file's last lines as BENCH-LOG lines
  tail -n 25 "$1" 2>/dev/null | tr -d '\r' | while IFS= read -r l; do echo "BENCH-LOG $2: $l"; done
}

# measure_one SORT LAUNCHER RUN PHASE MEASURE-OPTIONS... -- COMMAND...: one run, one line:
# BENCH-RESULT for the boot figures (SORT boot: the guest must print its init marker),
# BENCH-PSCI-RESULT for figure 7 (SORT psci: the guest prints nothing).
measure_one() {
  sort=$1 launcher=$2 run=$3 phase=$4
  shift 4
  case $sort in
    boot) result=BENCH-RESULT name=$launcher-$run tag="$launcher $run" ;;
    *) result=BENCH-PSCI-RESULT name=psci-$launcher-$run tag="$launcher psci $run" ;;
  esac
  out=/tmp/bench/$name.stdout
  err=/tmp/bench/$name.stderr
  arm_tracer
  trace_opt=
  [ $tracer = 1 ] && trace_opt="-T $T"
  # shellcheck disable=SC2086 # trace_opt is empty or two words
  line=$(measure -o "$out" -E "$err" $trace_opt "$@" 2>/tmp/bench/measure.err | grep '^MEASURE ')
  exec_s=$(echo "$line" | sed -n 's/.* exec_mono_s=\([0-9.]*\).*/\1/p')
  kvm_run=$(first_kvm_run "${exec_s:-0}")
  [ -n "$exec_s" ] || kvm_run=-1
  extra=" kvm_run_ms=$kvm_run"
  if [ "$sort" = boot ] && [ "$launcher" = petrel ]; then
    self=$(sed -n 's/.*first KVM_RUN after \([0-9.]*\) ms.*/\1/p' "$err" | head -n 1)
    extra="$extra self_kvm_run_ms=${self:--1}"
  fi
  if [ -z "$line" ]; then
    echo "$result launcher=$launcher run=$run phase=$phase measure_failed=1"
    show_tail /tmp/bench/measure.err "$tag measure"
    return
  fi
  echo "$result launcher=$launcher run=$run phase=$phase ${line#MEASURE }$extra"
  ok=1
  case $line in *" exit=code:0 "*) ;; *) ok=0 ;; esac
  [ "$sort" = boot ] && case $line in *" marker_ms=-1.000 "*) ok=0 ;; esac
  if [ $ok = 0 ]; then
    show_tail "$out" "$tag stdout"
    show_tail "$err" "$tag stderr"
    dmesg >/tmp/bench/dmesg.txt 2>/dev/null
    show_tail /tmp/bench/dmesg.txt "$tag L1 dmesg"
  fi
}

BOOT_LIMITS="-t $BENCH_RUN_TIMEOUT -r $BENCH_RAM"
petrel_run() {
  # shellcheck disable=SC2086 # BOOT_LIMITS is a word list
  measure_one boot petrel "$1" "$2" $BOOT_LIMITS -e "first KVM_RUN" -- /bin/petrel -vv run "$PETREL_CONFIG"
}
qemu_run() {
  # shellcheck disable=SC2086 # QEMU and QEMU_ARGS are word lists
  measure_one boot qemu "$1" "$2" $BOOT_LIMITS -- $QEMU $QEMU_ARGS -append "$QEMU_CMDLINE"
}

# measure_blk LAUNCHER RUN PHASE -- COMMAND...: one figure-5 run, one BENCH-BLK-RESULT line.
# measure's marker is the guest's BENCH-BLK line, so that its smaps reads (which cost
# QEMU ~200 ms of CPU each) come after the I/O; its status polls are slowed to 1 s.
measure_blk() {
  launcher=$1 run=$2 phase=$3
  shift 3
  out=/tmp/bench/blk-$launcher-$run.stdout
  err=/tmp/bench/blk-$launcher-$run.stderr
  line=$(measure -m "BENCH-BLK " -p 1000 -t "$BENCH_RUN_TIMEOUT" -r "$BENCH_RAM" -o "$out" -E "$err" "$@" \
    2>/tmp/bench/measure.err | grep '^MEASURE ')
  if [ -z "$line" ]; then
    echo "BENCH-BLK-RESULT launcher=$launcher run=$run phase=$phase measure_failed=1"
    show_tail /tmp/bench/measure.err "$launcher blk $run measure"
    return
  fi
  keep=
  for field in $line; do
    case $field in exit=* | marker_ms=* | exit_ms=* | timed_out=*) keep="$keep $field" ;; esac
  done
  guest=$(tr -d '\r' <"$out" | sed -n 's/^BENCH-BLK \(bytes=.*\)$/\1/p' | head -n 1)
  if [ -n "$guest" ]; then
    # MB/s = 10^6 bytes per second = bytes per microsecond
    rates=$(echo "$guest" | awk '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      w = f["write_us"] > 0 ? sprintf("%.3f", f["bytes"] / f["write_us"]) : -1
      r = f["read_us"] > 0 ? sprintf("%.3f", f["bytes"] / f["read_us"]) : -1
      print "write_mb_s=" w " read_mb_s=" r }')
    echo "BENCH-BLK-RESULT launcher=$launcher run=$run phase=$phase$keep guest_ok=1 $guest $rates"
  else
    echo "BENCH-BLK-RESULT launcher=$launcher run=$run phase=$phase$keep guest_ok=0"
  fi
  ok=1
  case $line in *" exit=code:0 "*) ;; *) ok=0 ;; esac
  [ -n "$guest" ] || ok=0
  case $guest in *" write_rc=0 "*" read_rc=0 "*) ;; *) ok=0 ;; esac
  tr -d '\r' <"$out" | grep '^BENCH-BLK-ERROR ' | sed "s/^BENCH-BLK-ERROR /BENCH-LOG $launcher blk $run guest: /"
  if [ $ok = 0 ]; then
    show_tail "$out" "$launcher blk $run stdout"
    show_tail "$err" "$launcher blk $run stderr"
    dmesg >/tmp/bench/dmesg.txt 2>/dev/null
    show_tail /tmp/bench/dmesg.txt "$launcher blk $run L1 dmesg"
  fi
}
petrel_blk() {
  measure_blk petrel "$1" "$2" -- /bin/petrel -vv run "$PETREL_BLK_CONFIG"
}
qemu_blk() {
  # shellcheck disable=SC2086 # QEMU and QEMU_BLK_ARGS are word lists
  measure_blk qemu "$1" "$2" -- $QEMU $QEMU_BLK_ARGS -append "$QEMU_BLK_CMDLINE"
}

# Figure 7's runs: exec -> exit is the figure, the tracepoint gives the first KVM_RUN as for
# the boot figures.
PSCI_LIMITS="-t $BENCH_PSCI_TIMEOUT -r $BENCH_PSCI_RAM"
# shellcheck disable=SC2086 # PSCI_LIMITS, QEMU, QEMU_PSCI_ARGS and KVMTOOL_PSCI_ARGS are word lists
petrel_psci() { measure_one psci petrel "$1" "$2" $PSCI_LIMITS -- /bin/petrel run "$PETREL_PSCI_CONFIG"; }
# shellcheck disable=SC2086
qemu_psci() { measure_one psci qemu "$1" "$2" $PSCI_LIMITS -- $QEMU $QEMU_PSCI_ARGS; }
# shellcheck disable=SC2086
kvmtool_psci() { measure_one psci kvmtool "$1" "$2" $PSCI_LIMITS -- /bin/lkvm $KVMTOOL_PSCI_ARGS; }
psci_launchers="petrel qemu"
[ "$BENCH_KVMTOOL" = 1 ] && psci_launchers="petrel qemu kvmtool"

total=$((BENCH_WARMUP + BENCH_RUNS))
i=1
while [ $i -le $total ]; do
  if [ $i -le "$BENCH_WARMUP" ]; then phase=warmup r=w$i; else phase=measured r=$((i - BENCH_WARMUP)); fi
  # Alternate which launcher goes first, so neither always follows the other.
  if kind boot; then
    if [ $((i % 2)) = 1 ]; then
      petrel_run "$r" "$phase"
      qemu_run "$r" "$phase"
    else
      qemu_run "$r" "$phase"
      petrel_run "$r" "$phase"
    fi
  fi
  if kind disk; then
    if [ $((i % 2)) = 1 ]; then
      petrel_blk "$r" "$phase"
      qemu_blk "$r" "$phase"
    else
      qemu_blk "$r" "$phase"
      petrel_blk "$r" "$phase"
    fi
  fi
  if kind psci; then
    # Rotate the order, round by round: each launcher goes first, second (and third) in turn.
    order=$psci_launchers
    k=1
    while [ $k -lt $i ]; do
      order="${order#* } ${order%% *}"
      k=$((k + 1))
    done
    for l in $order; do "${l}_psci" "$r" "$phase"; done
  fi
  i=$((i + 1))
done

# trace_psci N: N traced petrel runs of figure 7's guest (BENCH_TRACE), after all measuring.
trace_psci() {
  if [ ! -d "$T/events/syscalls" ] || ! echo mono >"$T/trace_clock" 2>/dev/null; then
    echo "BENCH-WARNING no tracefs syscall events or mono clock: no traced runs"
    return
  fi
  echo 0 >"$T/tracing_on"
  echo 0 >"$T/events/enable"
  echo '!traceoff' >"$EV/trigger" 2>/dev/null  # arm_tracer's KVM_RUN filter and trigger go
  echo 0 >"$EV/filter" 2>/dev/null
  echo 16384 >"$T/buffer_size_kb" 2>/dev/null
  # Kernel work that has no system call of its own; each probe is optional.
  for probe in 'p:kvm_destroy_vm kvm_destroy_vm' 'r:kvm_destroy_vm_ret kvm_destroy_vm' \
    'p:exit_mmap exit_mmap' 'r:exit_mmap_ret exit_mmap' 'p:clear_huge_page clear_huge_page' \
    'r:clear_huge_page_ret clear_huge_page' 'p:do_notify_parent do_notify_parent'; do
    echo "$probe" >>"$T/kprobe_events" 2>/dev/null
  done
  echo 1 >"$T/options/event-fork"
  n=1
  while [ $n -le "$1" ]; do
    : >"$T/trace"
    echo 1 >"$T/events/syscalls/enable"
    for e in sched/sched_process_exec sched/sched_process_exit sched/sched_process_fork \
      task/task_newtask kprobes; do
      echo 1 >"$T/events/$e/enable" 2>/dev/null
    done
    # The shell puts its own pid in the filter (event-fork adds petrel's threads), starts
    # tracing, and becomes petrel: the trace begins right before petrel's execve.
    # shellcheck disable=SC2016 # $$ is the inner shell's
    timeout -s KILL "$BENCH_PSCI_TIMEOUT" sh -c 'echo $$ >"$1/set_event_pid"; echo 1 >"$1/tracing_on"; exec /bin/petrel run "$2"' \
      sh "$T" "$PETREL_PSCI_CONFIG" </dev/null >/tmp/bench/trace-$n.stdout 2>/tmp/bench/trace-$n.stderr
    rc=$?
    echo 0 >"$T/tracing_on"
    echo 0 >"$T/events/enable"
    echo >"$T/set_event_pid"
    echo "BENCH-TRACE-BEGIN $n exit=$rc events=$(grep -vc '^#' "$T/trace")"
    grep -v '^#' "$T/trace" | sed 's/^/BENCH-TRACE /'
    echo "BENCH-TRACE-END $n"
    n=$((n + 1))
  done
  echo 0 >"$T/options/event-fork"
}
if kind psci && [ "${BENCH_TRACE:-0}" -gt 0 ]; then trace_psci "$BENCH_TRACE"; fi

echo "BENCH-DONE uptime_s=$(cut -d' ' -f1 /proc/uptime)"
stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1
poweroff -f
sleep 5
echo "BENCH-L1 poweroff failed"

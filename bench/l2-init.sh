#!/bin/busybox sh
# shellcheck shell=dash
# /init of the benchmark's L2 guest (bench/run.sh packs it with a static busybox; the
# figure-5 initramfs also holds the virtio modules in /lib/modules). Its own copy, so the
# benchmark's guest does not change when the nested tests' guest (tests/nested/l2-init.sh)
# does. `guest_cmd=NAME` on the kernel command line (the kernel hands unknown key=value
# parameters to init as environment variables) chooses what it does:
#
#   guest_cmd=poweroff  figures 1-4 and 6: print PETREL-GUEST-INIT-OK and power off at
#               once; the same steps as the nested tests' guest these figures were first
#               measured with (no module is loaded, nothing else runs before the power-off)
#   guest_cmd=blk  figure 5: load the virtio drivers (virtio_ring, virtio, virtio_mmio,
#               virtio_blk: Debian's cloud kernel has them as modules), then write the whole
#               of /dev/vda sequentially, then read it back, 1 MiB blocks, O_DIRECT, timed
#               here, and print one line for L1:
#     BENCH-BLK bytes=N write_rc=RC write_us=US write_records=N read_rc=RC read_us=US read_records=N clock=C
#               (RC: dd's exit status; records: whole 1 MiB blocks dd reports copied), then
#               power off. Errors: BENCH-BLK-ERROR lines (the BENCH-BLK line still follows
#               when there was a disk to test).
# Anything else resets the guest (the launcher exits non-zero: never a clean run).

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

# Waits until the console has sent everything (tcsetattr TCSADRAIN), so the last lines
# are not lost to the power-off that follows them.
drain() { stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1; }
off() { echo "GUEST-POWEROFF"; drain; poweroff -f; }   # PSCI SYSTEM_OFF: the launcher exits 0
reset() { echo "GUEST-REBOOT"; drain; reboot -f; }     # PSCI SYSTEM_RESET

# now_us: a clock in microseconds; $clock (set by pick_clock) says which: timer_list (the
# kernel's monotonic "now at N nsecs" in /proc/timer_list), date (CLOCK_REALTIME, when
# busybox's date has %N; Debian's has not), else uptime (/proc/uptime, 10 ms steps).
timer_list_ns() { sed -n '/^now at [0-9]* nsecs$/{s/^now at \([0-9]*\) nsecs$/\1/p;q}' /proc/timer_list 2>/dev/null; }
pick_clock() {
  clock=uptime
  case $(timer_list_ns) in
    '' | *[!0-9]*) ;;
    *) clock=timer_list; return ;;
  esac
  case $(date +%N 2>/dev/null) in
    [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) clock="date" ;;
  esac
}
now_us() {
  case $clock in
    timer_list) t=$(timer_list_ns); echo $((t / 1000)) ;;
    date) t=$(date +%s%N); echo "${t%???}" ;;
    *)
      read -r t _ </proc/uptime
      echo "$((${t%.*} * 1000000 + $(echo "${t#*.}" | sed 's/^0*//;s/^$/0/') * 10000))" ;;
  esac
}
records_out() { # records_out DD-STDERR-FILE: the count of whole blocks dd wrote
  r=$(sed -n 's/^\([0-9]*\)+[0-9]* records out$/\1/p' "$1" | tail -n 1)
  echo "${r:--1}"
}
show_err() { # show_err FILE WHAT: dd's error lines as BENCH-BLK-ERROR lines
  grep -v 'records \(in\|out\)' "$1" | head -n 5 | while IFS= read -r l; do echo "BENCH-BLK-ERROR $2: $l"; done
}

cmd_poweroff() { off; }

cmd_blk() {
  pick_clock
  for m in virtio_ring virtio virtio_mmio virtio_blk; do
    if ! insmod "/lib/modules/$m.ko" 2>/tmp/insmod.err; then
      echo "BENCH-BLK-ERROR insmod $m: $(head -n 1 /tmp/insmod.err)"
    fi
  done
  w=0
  while [ ! -b /dev/vda ] && [ $w -lt 100 ]; do usleep 100000; w=$((w + 1)); done
  if [ ! -b /dev/vda ]; then
    echo "BENCH-BLK-ERROR no /dev/vda after 10 s"
    dmesg | grep -i 'virtio\|vd[a-z]\|blk' | tail -n 10 | while IFS= read -r l; do echo "BENCH-BLK-ERROR dmesg: $l"; done
    off
  fi
  mib=$(($(cat /sys/block/vda/size) / 2048))
  t0=$(now_us)
  dd if=/dev/zero of=/dev/vda bs=1M count=$mib oflag=direct conv=fsync 2>/tmp/write.err
  write_rc=$?
  t1=$(now_us)
  dd if=/dev/vda of=/dev/null bs=1M count=$mib iflag=direct 2>/tmp/read.err
  read_rc=$?
  t2=$(now_us)
  [ $write_rc = 0 ] || show_err /tmp/write.err write
  [ $read_rc = 0 ] || show_err /tmp/read.err read
  # The kernel's complaints about the disk, if any (and its whole virtio story on failure).
  if [ $write_rc = 0 ] && [ $read_rc = 0 ]; then pattern='error\|fail\|timed out\|timeout\|hung'; else pattern='virtio\|vd[a-z]\|blk\|error\|fail'; fi
  dmesg | grep -i "$pattern" | tail -n 10 | while IFS= read -r l; do echo "BENCH-BLK-ERROR dmesg: $l"; done
  echo "BENCH-BLK bytes=$((mib << 20)) write_rc=$write_rc write_us=$((t1 - t0))" \
    "write_records=$(records_out /tmp/write.err) read_rc=$read_rc read_us=$((t2 - t1))" \
    "read_records=$(records_out /tmp/read.err) clock=$clock"
  off
}

echo "PETREL-GUEST-INIT-OK"
case ${guest_cmd:-} in
  poweroff) cmd_poweroff ;;
  blk) cmd_blk ;;
  *) echo "BENCH-ERROR unknown guest_cmd='${guest_cmd:-}' on the kernel command line" ;;
esac
reset

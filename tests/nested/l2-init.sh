#!/bin/busybox sh
# shellcheck shell=dash
# /init of the L2 guest, the Linux that petrel boots in the nested tests (and in the demo).
# One initramfs serves every case: it proves userspace came up by printing
# PETREL-GUEST-INIT-OK, then does what `guest_cmd=NAME` on the kernel command line asks
# (the kernel hands unknown key=value parameters to init as environment variables).
# To add a command, define a function cmd_NAME below.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

# The virtio drivers, modules in Debian's cloud kernel: mkinitramfs.sh copies them to
# /lib/modules when it is given the kernel's modules. Loaded in dependency order (each
# module's depends= line), silently: a missing or built-in one changes nothing here.
for m in virtio_ring virtio virtio_mmio virtio_blk virtio-rng failover net_failover virtio_net \
  fuse virtiofs; do
  if [ -f "/lib/modules/$m.ko" ]; then insmod "/lib/modules/$m.ko" >/dev/null 2>&1; fi
done

# Waits until the console has sent everything (tcsetattr TCSADRAIN), so the last lines
# are not lost to the power-off that follows them.
drain() { stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1; }
off() { echo "GUEST-POWEROFF"; drain; poweroff -f; }   # PSCI SYSTEM_OFF: petrel exits 0
reset() { echo "GUEST-REBOOT"; drain; reboot -f; }     # PSCI SYSTEM_RESET: petrel exits 32

cmd_poweroff() { off; }
cmd_reboot() { reset; }
cmd_cpuinfo() { # number of CPUs the guest kernel brought up
  echo "GUEST-CPUS $(grep -c '^processor' /proc/cpuinfo)"
  off
}
cmd_pmu() { # cycles counted by the vCPU's PMU through perf_event (tests/guests/perf-cycles.c)
  perf-cycles
  off
}

cmd_hang() { # never ends: for timeouts and signals
  echo "GUEST-HANGING"
  drain
  while :; do sleep 3600; done
}
cmd_counter() { # prints GUEST-TICK N ten times a second, forever: for pause and resume
  n=0
  while :; do
    n=$((n + 1))
    echo "GUEST-TICK $n"
    usleep 100000
  done
}
cmd_shell() { # interactive shell on the console (the demo); power off when it exits
  setsid cttyhack sh -l
  off
}
cmd_panic() { # a kernel panic (sysrq crash): with panic=-1 the kernel resets, petrel exits 32
  echo "GUEST-PANICKING"
  drain
  echo c >/proc/sysrq-trigger
  sleep 5
}
cmd_console() { # the next command is a line read from the console (a test types it)
  echo "GUEST-WAITING-FOR-COMMAND"
  next=
  read -r next
  next=$(printf '%s' "$next" | tr -d '\r')
  echo "GUEST-GOT-COMMAND '$next'"
  dispatch "$next"
}

# --- the test-exit device ([test_exit]): what a kernel test loop's init does ---------------

test_exit_address() { # the device's address, found by its compatible under /proc/device-tree
  for c in /proc/device-tree/*/compatible; do
    if [ "$(cat "$c" 2>/dev/null)" = "petrel,test-exit" ]; then
      # reg: two big-endian cells of address, two of size; the low cell is enough here.
      echo "0x$(od -An -tx1 -j4 -N4 "${c%/compatible}/reg" | tr -d ' \n')"
      return 0
    fi
  done
  return 1
}
cmd_testexit() { # runs a check (test_cpus=N: the guest has N CPUs), reports its status
  addr=$(test_exit_address) || { echo "GUEST-ERROR no petrel,test-exit node"; reset; }
  echo "GUEST-TEST-EXIT-ADDR $addr"
  status=7
  if [ "$(grep -c '^processor' /proc/cpuinfo)" = "${test_cpus:-1}" ]; then status=0; fi
  echo "GUEST-TEST-EXIT $status"
  drain
  devmem "$addr" 32 "$status"
  echo "GUEST-ERROR still running after the test-exit write"
  reset
}
cmd_kmodtest() { # loads a kernel test module (kmod=NAME, /lib/modules/NAME.ko), reports it
  addr=$(test_exit_address) || { echo "GUEST-ERROR no petrel,test-exit node"; reset; }
  name=${kmod:-test_user_copy}
  # The line the module prints when every test passed (lib/test_user_copy.c); a failing
  # test prints "NAME: [line] ..." and makes its init, so insmod, fail.
  case $name in
    test_user_copy) verdict="test_user_copy: tests passed." ;;
    *) echo "GUEST-ERROR no verdict line known for kmod=$name"; reset ;;
  esac
  insmod "/lib/modules/$name.ko" >/tmp/insmod.out 2>&1
  rc=$?
  echo "GUEST-KMOD-INSMOD-RC $rc"
  sed 's/^/GUEST-KMOD-INSMOD: /' /tmp/insmod.out
  # Everything the module logged, so the case can check the status against it.
  dmesg | grep -F "$name: " | sed 's/^/GUEST-KMOD-DMESG: /'
  # 0: loaded and it said it passed; 1: insmod failed; 2: loaded without saying so.
  status=2
  if [ $rc -ne 0 ]; then
    status=1
  elif dmesg | grep -qF "$verdict"; then
    status=0
  fi
  echo "GUEST-TEST-EXIT $status"
  drain
  devmem "$addr" 32 "$status"
  echo "GUEST-ERROR still running after the test-exit write"
  reset
}

# --- virtio devices ----------------------------------------------------------------------

wait_path() { # wait_path PATH: up to 5 s for PATH to exist (a device node, a sysfs file)
  _w=0
  while [ ! -e "$1" ] && [ $_w -lt 50 ]; do usleep 100000; _w=$((_w + 1)); done
  [ -e "$1" ] && return 0
  echo "GUEST-ERROR no $1"
  return 1
}
disk_bytes() { echo $(($(cat "/sys/block/$1/size") * 512)); }  # disk_bytes vda
md5_of() { md5sum | cut -d' ' -f1; }                             # md5_of <DATA
# The blk-write pattern: 2 MiB of 512-byte records, each numbered, so data written to the
# wrong sector shows. The blk-write case makes the same bytes with the same busybox.
blk_pattern() { awk 'BEGIN { for (i = 0; i < 4096; i++) printf "%-511s\n", "petrel-blk-write record " i }'; }

cmd_blkinfo() { # every virtio disk, in name order: size in sectors, serial, first 16 bytes, ro
  wait_path /dev/vda || off
  for d in /sys/block/vd*; do
    n=${d##*/}
    echo "GUEST-DISK $n size $(cat "$d/size") ro $(cat "$d/ro") serial '$(cat "$d/serial" 2>/dev/null)'" \
      "head '$(head -c 16 "/dev/$n" | tr -c 'A-Za-z0-9_-' '.')'"
  done
  off
}
cmd_blkread() { # /dev/vda's size, serial and the md5 of all its bytes
  wait_path /dev/vda || off
  bytes=$(disk_bytes vda)
  echo "GUEST-VDA-BYTES $bytes"
  echo "GUEST-VDA-SERIAL '$(cat /sys/block/vda/serial)'"
  echo "GUEST-VDA-MD5 $(head -c "$bytes" /dev/vda | md5_of)"
  off
}
cmd_blkwrite() { # blk_pattern to /dev/vda at 1 MiB, flushed, then read back past the cache
  wait_path /dev/vda || off
  blk_pattern >/tmp/pattern
  echo "GUEST-PATTERN-MD5 $(md5_of </tmp/pattern)"
  dd if=/tmp/pattern of=/dev/vda bs=4096 seek=256 conv=fsync 2>/tmp/dd.err
  rc=$?
  echo "GUEST-WRITE-RC $rc"
  if [ $rc -ne 0 ]; then echo "GUEST-WRITE-ERR $(grep -v records /tmp/dd.err | head -n 1)"; fi
  echo "GUEST-READBACK-MD5 $(dd if=/dev/vda bs=4096 skip=256 count=512 iflag=direct 2>/dev/null | md5_of)"
  off
}
cmd_blkro() { # a read-only /dev/vda: its ro flag, a direct write that must fail, its md5
  wait_path /dev/vda || off
  echo "GUEST-VDA-RO $(cat /sys/block/vda/ro)"
  dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct conv=fsync,notrunc 2>/tmp/dd.err
  rc=$?
  echo "GUEST-WRITE-RC $rc"
  echo "GUEST-WRITE-ERR $(grep -v records /tmp/dd.err | head -n 1)"
  echo "GUEST-VDA-MD5 $(head -c "$(disk_bytes vda)" /dev/vda | md5_of)"
  off
}
cmd_ext4root() { # /dev/vda (ext4) mounted read-write becomes the root; its /sbin/init runs
  wait_path /dev/vda || off
  mkdir -p /newroot
  if ! mount -t ext4 -o rw /dev/vda /newroot; then
    echo "GUEST-ERROR cannot mount /dev/vda"
    off
  fi
  echo "GUEST-SWITCHING-ROOT"
  umount /proc /sys /tmp
  mount --move /dev /newroot/dev
  exec switch_root /newroot /sbin/init
}
cmd_rng() { # the virtio entropy device behind /dev/hwrng
  wait_path /dev/hwrng || off
  echo "GUEST-RNG-CURRENT $(cat /sys/class/misc/hw_random/rng_current)"
  echo "GUEST-RNG-BYTES $(($(timeout 10 head -c 64 /dev/hwrng | wc -c)))"
  a=$(timeout 10 head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')
  b=$(timeout 10 head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')
  echo "GUEST-RNG-SAMPLE $a"
  echo "GUEST-RNG-SAMPLE $b"
  off
}

# --- virtio-console: the ports of [[port]] ---------------------------------------------

# Without udev, the /dev/virtio-ports/NAME links the guest's udev rules would make.
port_links() {
  mkdir -p /dev/virtio-ports
  for p in /sys/class/virtio-ports/vport*; do
    [ -e "$p/name" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
  done
}
cmd_port() { # writes hello-port to the port "result", reads a line from "org.petrel.input"
  load_module virtio_console || off
  # The ports come up one control message at a time: up to 5 s for both names.
  _w=0
  while [ "$(cat /sys/class/virtio-ports/vport*/name 2>/dev/null | wc -l)" -lt 2 ] && [ $_w -lt 50 ]; do
    usleep 100000
    _w=$((_w + 1))
  done
  port_links
  echo "GUEST-PORT-NAMES $(ls /dev/virtio-ports | tr '\n' ' ' | sed 's/ $//')"
  printf hello-port >/dev/virtio-ports/result
  echo "GUEST-PORT-WRITE-RC $?"
  echo "GUEST-PORT-READ $(timeout 10 head -n 1 /dev/virtio-ports/org.petrel.input)"
  off
}

# --- virtio-fs: share_tag= on the kernel command line names the share (default hostdata) --

share_mount() { # mounts the share on /mnt, or says why not
  mkdir -p /mnt
  if ! mount -t virtiofs "${share_tag:-hostdata}" /mnt 2>/tmp/mount.err; then
    echo "GUEST-ERROR cannot mount virtiofs ${share_tag:-hostdata}: $(head -n 1 /tmp/mount.err)"
    dmesg | grep -i -E 'virtio|fuse' | tail -n 5 | sed 's/^/GUEST-DMESG: /'
    return 1
  fi
  echo "GUEST-SHARE-MOUNTED $(grep ' /mnt ' /proc/mounts | cut -d' ' -f1,3,4 | cut -d, -f1)"
}
cmd_share() { # reads from-host.txt, writes from-guest.txt (flushed), lists the folder
  share_mount || off
  echo "GUEST-SHARE-READ $(cat /mnt/from-host.txt)"
  rc=1
  echo "written by the guest $(cat /mnt/from-host.txt)" >/mnt/from-guest.txt && rc=0
  echo "GUEST-SHARE-WRITE-RC $rc"
  sync
  echo "GUEST-SHARE-LS $(for f in /mnt/*; do printf '%s ' "${f##*/}"; done)"
  umount /mnt
  echo "GUEST-SHARE-UMOUNT-RC $?"
  off
}
cmd_sharero() { # a read-only share: reads from-host.txt; a new file and an overwrite both fail
  share_mount || off
  echo "GUEST-SHARE-READ $(cat /mnt/from-host.txt)"
  (echo "guest" >/mnt/from-guest.txt) 2>/tmp/w1.err
  echo "GUEST-SHARE-CREATE-RC $?"
  echo "GUEST-SHARE-CREATE-ERR $(head -n 1 /tmp/w1.err)"
  (echo "guest" >>/mnt/from-host.txt) 2>/tmp/w2.err
  echo "GUEST-SHARE-APPEND-RC $?"
  echo "GUEST-SHARE-APPEND-ERR $(head -n 1 /tmp/w2.err)"
  rm -f /mnt/from-host.txt 2>/dev/null
  echo "GUEST-SHARE-RM-RC $?"
  umount /mnt
  off
}

# --- virtio-net: eth0 on a host tap (net_addr= and net_peer= on the kernel command line,
# default 10.0.2.2/24 and 10.0.2.1, the host's end of the tap) ------------------------------

net_up() { # eth0's MAC, then its address and link up, then its carrier (no waiting for it)
  if ! wait_path /sys/class/net/eth0; then
    dmesg | grep -i -E 'virtio|eth|net' | sed 's/^/GUEST-DMESG: /'
    return 1
  fi
  echo "GUEST-NET-IFACES $(for i in /sys/class/net/*; do printf '%s ' "${i##*/}"; done)"
  echo "GUEST-ETH0-MAC $(cat /sys/class/net/eth0/address)"
  ip addr add "${net_addr:-10.0.2.2/24}" dev eth0 || echo "GUEST-ERROR ip addr add failed"
  ip link set eth0 up || echo "GUEST-ERROR ip link set eth0 up failed"
  echo "GUEST-ETH0-CARRIER $(cat /sys/class/net/eth0/carrier 2>&1)"
  # The operational state follows the carrier through the kernel's linkwatch, which may
  # take up to a second: up to 3 s for it.
  _w=0
  while [ "$(cat /sys/class/net/eth0/operstate)" != up ] && [ $_w -lt 30 ]; do
    usleep 100000
    _w=$((_w + 1))
  done
  echo "GUEST-ETH0-OPERSTATE $(cat /sys/class/net/eth0/operstate)"
}
uptime_cs() { # the guest's uptime in centiseconds
  _u=$(cut -d' ' -f1 /proc/uptime)
  echo $((${_u%.*} * 100 + $(echo "${_u#*.}" | sed 's/^0//')))
}
net_stats() { # eth0's line of /proc/net/dev (bytes, packets, errs, drop ... each way)
  echo "GUEST-ETH0-STATS $(grep 'eth0:' /proc/net/dev | tr -s ' ' | sed 's/^ //')"
}
cmd_netping() { # three pings to the host's end of the tap
  net_up || off
  timeout 30 ping -c 3 -W 5 "${net_peer:-10.0.2.1}" >/tmp/ping.out 2>&1
  rc=$?
  sed 's/^/GUEST-PING: /' /tmp/ping.out
  echo "GUEST-PING-RC $rc"
  net_stats
  off
}
cmd_nettcp() { # 1 MiB down from the host's `nc -l -p 5000`, 1 MiB up to its `nc -l -p 5001`
  net_up || off
  peer=${net_peer:-10.0.2.1}
  timeout 20 ping -c 1 -W 10 "$peer" >/dev/null 2>&1
  echo "GUEST-PEER-PING-RC $?"
  # busybox nc exits as soon as the peer's side ends and half-closes its own on EOF on
  # stdin: the receiving end reads a FIFO that never ends, so it closes last.
  mkfifo /tmp/hold
  exec 3<>/tmp/hold
  t0=$(uptime_cs)
  timeout 40 nc -w 10 "$peer" 5000 </tmp/hold >/tmp/down
  echo "GUEST-DOWN-RC $?"
  echo "GUEST-DOWN-MS $((($(uptime_cs) - t0) * 10))"
  echo "GUEST-DOWN-BYTES $(wc -c </tmp/down)"
  echo "GUEST-DOWN-MD5 $(md5_of </tmp/down)"
  head -c 1048576 /dev/urandom >/tmp/up
  echo "GUEST-UP-MD5 $(md5_of </tmp/up)"
  t0=$(uptime_cs)
  timeout 40 nc -w 10 "$peer" 5001 </tmp/up
  echo "GUEST-UP-RC $?"
  echo "GUEST-UP-MS $((($(uptime_cs) - t0) * 10))"
  exec 3>&-
  net_stats
  off
}

# load_module NAME: /lib/modules/NAME.ko after the modules its depends= line names, each once.
load_module() {
  grep -q "^$1 " /proc/modules && return 0
  [ -f "/lib/modules/$1.ko" ] || { echo "GUEST-ERROR no /lib/modules/$1.ko"; return 1; }
  for dep in $(tr '\0' '\n' <"/lib/modules/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
    load_module "$dep" || return 1
  done
  insmod "/lib/modules/$1.ko" || { echo "GUEST-ERROR insmod $1 failed"; return 1; }
}

cmd_powerkey() { # waits for KEY_POWER from the gpio-keys device (petrel's power button), powers off
  for m in gpio_keys evdev; do load_module "$m" || reset; done
  dev=
  for e in /sys/class/input/event*; do
    [ "$(cat "$e/device/name" 2>/dev/null)" = gpio-keys ] && dev=/dev/input/${e##*/}
  done
  [ -n "$dev" ] || { echo "GUEST-ERROR no gpio-keys input device"; ls /sys/class/input; reset; }
  echo "GUEST-POWERKEY-READY $dev"
  drain
  # struct input_event on arm64: 16 bytes of time, then type, code (le16) and value (le32).
  # The first event of a press is EV_KEY (1) KEY_POWER (116 = 0x74) value 1.
  while :; do
    event=$(dd if="$dev" bs=24 count=1 2>/dev/null | od -An -tx1 -j16 -N8 | tr -d ' \n')
    echo "GUEST-INPUT-EVENT $event"
    [ "$event" = 0100740001000000 ] && break
  done
  echo "GUEST-KEY-POWER"
  off
}

dispatch() { # dispatch NAME: runs cmd_NAME; returns only when it does or NAME is unknown
  case $1 in
    '' | *[!a-z0-9_]*) echo "GUEST-ERROR unknown guest_cmd '$1'"; return ;;
  esac
  if type "cmd_$1" 2>/dev/null | grep -q function; then
    "cmd_$1"
    echo "GUEST-ERROR guest_cmd '$1' returned"
  else
    echo "GUEST-ERROR unknown guest_cmd '$1'"
  fi
}

echo "PETREL-GUEST-INIT-OK"
if [ -z "${guest_cmd:-}" ]; then
  echo "GUEST-ERROR no guest_cmd= on the kernel command line"
  reset
fi
dispatch "$guest_cmd"
# Reset rather than power off, so that a typo in a test's cmdline never looks like a
# clean run (exit 0).
reset

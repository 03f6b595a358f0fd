# report.awk: turns L1's console (bench/l1-init.sh's BENCH-* lines) into the benchmark's
# table on stdout and its JSON file, for bench/run.sh. Plain POSIX awk (mawk works).
# Variables from run.sh: runs, warmup, smoke, json, qemu_rc, l1_seconds, qemu_deb,
# petrel_path, ram_mib, cmdline, qemu_cpu, disk_mib, blk_cmdline, kinds (the kinds of runs
# L1 made: a comma list of boot, disk, psci), kvmtool_path (empty: no kvmtool), psci_ram_mib.
# Exit status: 0 when every launcher booted the guest in every run, every disk test (figure 5)
# completed, every PSCI guest (figure 7) ended with exit status 0, and everything parsed; 1
# otherwise (the table and JSON are written all the same, with the problems listed).

function problem(text) { problems[++nproblems] = text }
function note(text) { notes[++nnotes] = text }

function jstr(s) { # a JSON string
  gsub(/\\/, "\\\\", s)
  gsub(/"/, "\\\"", s)
  gsub(/\t/, " ", s)
  return "\"" s "\""
}

function num(x) { return x + 0 == int(x + 0) ? sprintf("%d", x) : sprintf("%.3f", x) }

# add(KEY, VALUE): one sample of a series (KEY is "figure|launcher")
function add(key, value) { n[key]++; v[key, n[key]] = value + 0 }

function sort_series(key,   i, j, t) {
  for (i = 2; i <= n[key]; i++) {
    t = v[key, i]
    for (j = i - 1; j >= 1 && v[key, j] > t; j--) v[key, j + 1] = v[key, j]
    v[key, j + 1] = t
  }
}
function smin(key) { return v[key, 1] }
function smax(key) { return v[key, n[key]] }
function smedian(key,   m) {
  m = n[key]
  return m % 2 ? v[key, (m + 1) / 2] : (v[key, m / 2] + v[key, m / 2 + 1]) / 2
}

# keep_result(): the current BENCH-*RESULT line, kept for the JSON, its key=value fields in f.
function keep_result(   i, eq) {
  line[++nresults] = $0
  delete f
  for (i = 2; i <= NF; i++) {
    eq = index($i, "=")
    if (eq == 0) continue
    f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
  }
}

function fmt(x, unit) { return unit == "MiB" ? sprintf("%.2f", x) : sprintf("%.1f", x) }
function isnum(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?$/ }
function triple(key, unit) {
  if (n[key] == 0) return "-"
  return fmt(smin(key), unit) " / " fmt(smedian(key), unit) " / " fmt(smax(key), unit)
}
function jstats(key,   s, i) {
  if (n[key] == 0) return "null"
  s = "{\"min\": " num(smin(key)) ", \"median\": " num(smedian(key)) ", \"max\": " num(smax(key)) ", \"values\": ["
  for (i = 1; i <= n[key]; i++) s = s (i > 1 ? ", " : "") num(raw[key, i])
  return s "]}"
}

BEGIN {
  nproblems = 0; nnotes = 0; nresults = 0; done = 0; l1_up = 0
  if (kinds == "") kinds = "boot,disk,psci"
  nk = split(kinds, kk, ",")
  for (i = 1; i <= nk; i++) kind[kk[i]] = 1
  has_kvmtool = kvmtool_path != ""
}

/^BENCH-L1-UP / {
  l1_up = 1
  for (i = 2; i <= NF; i++) {
    split($i, kv, "=")
    l1[kv[1]] = substr($i, length(kv[1]) + 2)
  }
  gsub(/_/, " ", l1["qemu"])
  if (l1["kvm"] != "present") problem("L1 has no /dev/kvm")
}
/^BENCH-DONE/ { done = 1 }
/^BENCH-WARNING / { note("L1: " substr($0, 16)) }
/^BENCH-RESULT / {
  keep_result()
  who = f["launcher"]
  tag = who " run " f["run"]
  if (f["phase"] != "measured") { skipped++; next }
  count[who]++
  if (f["measure_failed"] == 1) { problem(tag ": the measuring helper failed"); next }
  # Every field a figure needs must be a number.
  split("first_byte_ms marker_ms exit_ms user_ms sys_ms guest_ms hwm_kib guest_rss_kib kvm_run_ms", need, " ")
  bad = 0
  for (k in need) if (!(need[k] in f) || f[need[k]] !~ /^-?[0-9]+(\.[0-9]+)?$/) bad = 1
  if (bad) { problem(tag ": unparsable result line: " $0); next }
  if (who != "petrel" && who != "qemu") { problem("unknown launcher in: " $0); next }
  if (f["timed_out"] == 1) { problem(tag ": still running after the time bound, stopped"); next }
  if (f["exit"] != "code:0") { problem(tag ": exit " f["exit"] ", expected code:0 (guest powered off)"); next }
  if (f["marker_ms"] < 0) { problem(tag ": the guest never printed its init marker"); next }
  add("marker|" who, f["marker_ms"])
  add("exit|" who, f["exit_ms"])
  if (f["guest_ms"] >= 0) add("cpu|" who, f["user_ms"] + f["sys_ms"] - f["guest_ms"])
  add("guest|" who, f["guest_ms"])
  if (f["hwm_kib"] >= 0) add("hwm|" who, f["hwm_kib"] / 1024)
  if (f["guest_rss_kib"] >= 0) add("grss|" who, f["guest_rss_kib"] / 1024)
  if (f["hwm_kib"] >= 0 && f["guest_rss_kib"] >= 0) add("mem|" who, (f["hwm_kib"] - f["guest_rss_kib"]) / 1024)
  else problem(tag ": no guest RAM mapping found in smaps; no memory figure")
  if (f["rss_at_smaps_kib"] >= 0 && f["guest_rss_kib"] >= 0) add("inst|" who, (f["rss_at_smaps_kib"] - f["guest_rss_kib"]) / 1024)
  if (f["first_byte_ms"] >= 0) add("byte|" who, f["first_byte_ms"])
  if ("sampling_ms" in f) add("sampling|" who, f["sampling_ms"])
  if (f["kvm_run_ms"] >= 0) add("kvm_run|" who, f["kvm_run_ms"])
  else note(tag ": no KVM_RUN recorded by the kernel tracepoint")
  if (who == "petrel") {
    if (f["self_kvm_run_ms"] >= 0) add("self|petrel", f["self_kvm_run_ms"])
    else note(tag ": no 'first KVM_RUN' line in petrel's -vv log")
  }
}

# Figure 5's runs (bench/l1-init.sh measure_blk): the guest's own dd timings.
/^BENCH-BLK-RESULT / {
  keep_result()
  who = f["launcher"]
  tag = who " disk run " f["run"]
  if (f["phase"] != "measured") next
  if (who != "petrel" && who != "qemu") { problem("unknown launcher in: " $0); next }
  blk_count[who]++
  if (f["measure_failed"] == 1) { problem(tag ": the measuring helper failed"); next }
  if (f["timed_out"] == 1) { problem(tag ": still running after the time bound, stopped"); next }
  if (f["guest_ok"] != 1) { problem(tag ": the guest printed no disk test result (exit " f["exit"] ")"); next }
  if (f["exit"] != "code:0") { problem(tag ": exit " f["exit"] ", expected code:0 (guest powered off)"); next }
  split("bytes write_rc write_us write_records read_rc read_us read_records write_mb_s read_mb_s", need, " ")
  bad = 0
  for (k in need) if (!(need[k] in f) || !isnum(f[need[k]])) bad = 1
  if (bad) { problem(tag ": unparsable result line: " $0); next }
  if (f["write_rc"] != 0 || f["write_records"] * 1048576 != f["bytes"])
    problem(tag ": the guest's write failed (dd status " f["write_rc"] ", " f["write_records"] " of " f["bytes"] / 1048576 " MiB)")
  else if (f["write_mb_s"] > 0) add("blkw|" who, f["write_mb_s"])
  if (f["read_rc"] != 0 || f["read_records"] * 1048576 != f["bytes"])
    problem(tag ": the guest's read failed (dd status " f["read_rc"] ", " f["read_records"] " of " f["bytes"] / 1048576 " MiB)")
  else if (f["read_mb_s"] > 0) add("blkr|" who, f["read_mb_s"])
  if (f["clock"] == "uptime") blk_clock = f["clock"]
}

# Figure 7's runs (bench/l1-init.sh measure_one psci): the PSCI SYSTEM_OFF guest.
/^BENCH-PSCI-RESULT / {
  keep_result()
  who = f["launcher"]
  tag = who " PSCI run " f["run"]
  if (f["phase"] != "measured") next
  if (who != "petrel" && who != "qemu" && who != "kvmtool") { problem("unknown launcher in: " $0); next }
  psci_count[who]++
  if (f["measure_failed"] == 1) { problem(tag ": the measuring helper failed"); next }
  split("exit_ms user_ms sys_ms hwm_kib kvm_run_ms", need, " ")
  bad = 0
  for (k in need) if (!(need[k] in f) || !isnum(f[need[k]])) bad = 1
  if (bad) { problem(tag ": unparsable result line: " $0); next }
  if (f["timed_out"] == 1) { problem(tag ": still running after the time bound, stopped"); next }
  if (f["exit"] != "code:0") { problem(tag ": exit " f["exit"] ", expected code:0 (PSCI SYSTEM_OFF)"); next }
  add("psci|" who, f["exit_ms"])
  add("psci_cpu|" who, f["user_ms"] + f["sys_ms"])
  if (f["hwm_kib"] >= 0) add("psci_hwm|" who, f["hwm_kib"] / 1024)
  if (isnum(f["minflt"])) add("psci_flt|" who, f["minflt"])  # measure.c before minflt: none
  if (f["kvm_run_ms"] >= 0) {
    add("psci_run|" who, f["kvm_run_ms"])
    add("psci_after|" who, f["exit_ms"] - f["kvm_run_ms"])
  } else note(tag ": no KVM_RUN recorded by the kernel tracepoint")
}

END {
  if (!l1_up) problem("L1 never reached its /init (no BENCH-L1-UP line; qemu exit " qemu_rc ")")
  else if (!done) problem("L1 did not finish (no BENCH-DONE line; qemu exit " qemu_rc (qemu_rc == 124 || qemu_rc == 137 ? ", killed at the time bound" : "") ")")
  split("petrel qemu kvmtool", whos, " ")
  for (w = 1; w <= 2; w++)
    if ("boot" in kind && count[whos[w]] + 0 != runs + 0)
      problem(whos[w] ": " (count[whos[w]] + 0) " measured result(s), expected " runs)
  for (w = 1; w <= 2; w++)
    if ("disk" in kind && blk_count[whos[w]] + 0 != runs + 0)
      problem(whos[w] ": " (blk_count[whos[w]] + 0) " measured disk result(s), expected " runs)
  for (w = 1; w <= 2 + has_kvmtool; w++)
    if ("psci" in kind && psci_count[whos[w]] + 0 != runs + 0)
      problem(whos[w] ": " (psci_count[whos[w]] + 0) " measured PSCI result(s), expected " runs)
  if (blk_clock != "") note("the guest timed dd with /proc/uptime (no /proc/timer_list, no date +%N): 10 ms steps")

  nfig = split("marker exit cpu mem blkw blkr kvm_run self byte hwm grss inst guest sampling psci psci_run psci_after psci_cpu psci_hwm psci_flt", figs, " ")
  for (i = 1; i <= nfig; i++)
    for (w = 1; w <= 3; w++) {
      key = figs[i] "|" whos[w]
      for (j = 1; j <= n[key]; j++) raw[key, j] = v[key, j]  # in run order, for the JSON
      sort_series(key)
    }

  title["marker"] = "1 exec -> guest init marker"; unit["marker"] = "ms"
  title["exit"] = "2 exec -> exit after poweroff"; unit["exit"] = "ms"
  title["cpu"] = "3 CPU time minus guest time"; unit["cpu"] = "ms"
  title["mem"] = "4 memory overhead"; unit["mem"] = "MiB"
  title["blkw"] = "5 virtio-blk sequential write"; unit["blkw"] = "MB/s"
  title["blkr"] = "5 virtio-blk sequential read"; unit["blkr"] = "MB/s"
  title["kvm_run"] = "6 exec -> first KVM_RUN"; unit["kvm_run"] = "ms"
  title["self"] = "  main -> first KVM_RUN (petrel -vv)"; unit["self"] = "ms"
  title["byte"] = "  exec -> first console byte"; unit["byte"] = "ms"
  title["hwm"] = "  peak RSS (VmHWM)"; unit["hwm"] = "MiB"
  title["grss"] = "  guest RAM resident at exit"; unit["grss"] = "MiB"
  title["guest"] = "  guest time (in KVM_RUN)"; unit["guest"] = "ms"
  title["inst"] = "  RSS - guest RAM, same instant"; unit["inst"] = "MiB"
  title["sampling"] = "  measure's /proc reading time"; unit["sampling"] = "ms"
  title["psci"] = "7 PSCI-off guest: exec -> exit"; unit["psci"] = "ms"
  title["psci_run"] = "  7: exec -> first KVM_RUN"; unit["psci_run"] = "ms"
  title["psci_after"] = "  7: first KVM_RUN -> exit"; unit["psci_after"] = "ms"
  title["psci_cpu"] = "  7: CPU time (user + system)"; unit["psci_cpu"] = "ms"
  title["psci_hwm"] = "  7: peak RSS (VmHWM)"; unit["psci_hwm"] = "MiB"
  title["psci_flt"] = "  7: page faults (minor)"; unit["psci_flt"] = ""
  # Which rows a kind of run fills: only those are shown.
  split("marker exit cpu mem kvm_run self byte hwm grss inst guest sampling", tmp, " ")
  for (i in tmp) row_kind[tmp[i]] = "boot"
  row_kind["blkw"] = row_kind["blkr"] = "disk"
  split("psci psci_run psci_after psci_cpu psci_hwm psci_flt", tmp, " ")
  for (i in tmp) row_kind[tmp[i]] = "psci"

  # Ratios of medians and the issue's targets (informative: nothing fails on them).
  for (i = 1; i <= nfig; i++) {
    k = figs[i]
    ratio[k] = (n[k "|petrel"] && n[k "|qemu"] && smedian(k "|qemu") != 0) ? smedian(k "|petrel") / smedian(k "|qemu") : ""
    kratio[k] = (n[k "|petrel"] && n[k "|kvmtool"] && smedian(k "|kvmtool") != 0) ? smedian(k "|petrel") / smedian(k "|kvmtool") : ""
  }
  if (ratio["marker"] != "") {
    target["marker"] = "<= 0.7 x QEMU"; met["marker"] = ratio["marker"] <= 0.7
  } else target["marker"] = "<= 0.7 x QEMU"
  target["kvm_run"] = "<= max(QEMU/10, 5 ms)"
  if (n["kvm_run|petrel"] && n["kvm_run|qemu"]) {
    limit = smedian("kvm_run|qemu") / 10
    if (limit < 5) limit = 5
    target["kvm_run"] = sprintf("<= max(QEMU/10, 5 ms) = %.1f ms", limit)
    met["kvm_run"] = smedian("kvm_run|petrel") <= limit
  }
  target["mem"] = "<= 4 MiB"
  if (n["mem|petrel"]) met["mem"] = smedian("mem|petrel") <= 4
  target["blkw"] = target["blkr"] = ">= QEMU"
  if (ratio["blkw"] != "") met["blkw"] = ratio["blkw"] >= 1
  if (ratio["blkr"] != "") met["blkr"] = ratio["blkr"] >= 1

  # --- the table -------------------------------------------------------------------------
  printf "petrel vs QEMU%s: %d measured run(s) per launcher (+%d warm-up)%s%s\n", has_kvmtool ? " (and kvmtool in figure 7)" : "", \
    runs, warmup, smoke ? ", smoke mode" : "", kinds == "boot,disk,psci" ? "" : "; only " kinds
  printf "in an emulated arm64 host (L1: %s, %s vCPUs, %s, -cpu %s): emulated time, compare within one run only\n", \
    l1["kernel"], l1["cpus"], l1["qemu"], qemu_cpu
  if ("boot" in kind)
    printf "figures 1-4, 6: guest 1 vCPU, %d MiB, \"%s\"\n", ram_mib, cmdline
  if ("disk" in kind)
    printf "figure 5: own runs, \"%s\", raw drive image of %d MiB in L1's tmpfs, written then read whole by dd (1 MiB, O_DIRECT) in the guest\n", \
      blk_cmdline, disk_mib
  if ("psci" in kind)
    printf "figure 7: own runs, a bare-metal guest calling PSCI SYSTEM_OFF at its first instruction, 1 vCPU, %d MiB, no console\n", psci_ram_mib
  printf "min / median / max per launcher; ratio = petrel median / QEMU median%s; targets from issue #6\n\n", \
    has_kvmtool ? ", p/kvmtool = petrel median / kvmtool median" : ""
  fw = "%-34s %-4s  %-28s  %-28s  %5s  %s\n"
  kw = "%-34s %-4s  %-28s  %-28s  %5s  %-28s  %9s  %s\n"
  if (has_kvmtool) printf kw, "figure", "unit", "petrel", "QEMU", "ratio", "kvmtool", "p/kvmtool", "target"
  else printf fw, "figure", "unit", "petrel", "QEMU", "ratio", "target"
  for (i = 1; i <= nfig; i++) {
    k = figs[i]
    if (!(row_kind[k] in kind)) continue
    t = target[k] == "" ? "" : target[k] (k in met ? (met[k] ? ": met" : ": missed") : ": -")
    p = triple(k "|petrel", unit[k])
    q = k == "self" ? "-" : triple(k "|qemu", unit[k])
    r = k == "self" || ratio[k] == "" ? "-" : sprintf("%.2f", ratio[k])
    if (has_kvmtool)
      printf kw, title[k], unit[k], p, q, r, triple(k "|kvmtool", unit[k]), \
        kratio[k] == "" ? "-" : sprintf("%.2f", kratio[k]), t
    else
      printf fw, title[k], unit[k], p, q, r, t
  }
  printf "\nAll times from the launcher's execve. First KVM_RUN: the kernel's sys_enter_ioctl tracepoint\n"
  printf "(cmd KVM_RUN), the same for all. Memory overhead: peak RSS minus resident guest RAM. bench/README.md.\n"
  for (p = 1; p <= nnotes; p++) printf "note: %s\n", notes[p]
  for (p = 1; p <= nproblems; p++) printf "PROBLEM: %s\n", problems[p]

  # --- the JSON --------------------------------------------------------------------------
  desc["marker"] = "launcher execve -> first console line with PETREL-GUEST-INIT-OK"
  desc["exit"] = "launcher execve -> launcher exit after the guest powered off"
  desc["cpu"] = "launcher CPU time (user + system, all threads, wait4 rusage) minus the guest time accounted to it (cguest_time)"
  desc["mem"] = "peak RSS (VmHWM, read every 50 ms and after the marker) minus the resident part of the guest RAM mapping (smaps Rss, last read before exit: read at the marker and after it), MiB"
  desc["blkw"] = "sequential write of the whole drive image inside the guest: dd if=/dev/zero of=/dev/vda bs=1M oflag=direct conv=fsync, timed by the guest around dd, 10^6 bytes/s"
  desc["blkr"] = "sequential read of the whole drive image inside the guest: dd if=/dev/vda of=/dev/null bs=1M iflag=direct, timed by the guest around dd, 10^6 bytes/s"
  desc["kvm_run"] = "launcher execve -> its first KVM_RUN ioctl, from the kernel's syscalls:sys_enter_ioctl tracepoint (filter cmd == 0xae80, trace_clock mono)"
  desc["self"] = "petrel's own -vv figure: ms from its main() to its first KVM_RUN"
  desc["byte"] = "launcher execve -> first byte on its stdout (the guest console)"
  desc["hwm"] = "peak RSS (VmHWM), MiB"
  desc["grss"] = "resident part of the guest RAM mapping at the last smaps read before exit, MiB"
  desc["inst"] = "VmRSS minus the guest RAM mapping's Rss, both read at the last smaps read (non-guest resident memory at one instant, not at the peak), MiB"
  desc["guest"] = "guest time accounted to the launcher (cguest_time, clock ticks), ms"
  desc["sampling"] = "time the measuring helper spent reading /proc/PID/status and smaps during the run (its perturbation), ms"
  desc["psci"] = "figure 7: launcher execve -> launcher exit, guest = a bare-metal Image calling PSCI SYSTEM_OFF at its first instruction (the launcher's own start and teardown)"
  desc["psci_run"] = "figure 7: launcher execve -> its first KVM_RUN ioctl (the kernel's sys_enter_ioctl tracepoint)"
  desc["psci_after"] = "figure 7: first KVM_RUN -> launcher exit (the guest's run, the SYSTEM_OFF exit and the launcher's teardown)"
  desc["psci_cpu"] = "figure 7: launcher CPU time, user + system, all threads (wait4 rusage), ms"
  desc["psci_hwm"] = "figure 7: peak RSS (VmHWM, read every 50 ms), MiB"
  desc["psci_flt"] = "figure 7: minor page faults, all threads (wait4 rusage)"
  jname["psci"] = "psci_exec_to_exit_ms"; jname["psci_run"] = "psci_exec_to_first_kvm_run_ms"
  jname["psci_after"] = "psci_first_kvm_run_to_exit_ms"; jname["psci_cpu"] = "psci_cpu_ms"; jname["psci_hwm"] = "psci_peak_rss_mib"; jname["psci_flt"] = "psci_minor_page_faults"
  jname["marker"] = "exec_to_marker_ms"; jname["exit"] = "exec_to_exit_ms"
  jname["cpu"] = "cpu_minus_guest_ms"; jname["mem"] = "memory_overhead_mib"
  jname["blkw"] = "virtio_blk_seq_write_mb_s"; jname["blkr"] = "virtio_blk_seq_read_mb_s"
  jname["kvm_run"] = "exec_to_first_kvm_run_ms"
  jname["self"] = "petrel_self_reported_first_kvm_run_ms"; jname["byte"] = "exec_to_first_console_byte_ms"
  jname["hwm"] = "peak_rss_mib"; jname["grss"] = "guest_ram_resident_mib"; jname["guest"] = "guest_time_ms"; jname["inst"] = "rss_minus_guest_ram_same_instant_mib"; jname["sampling"] = "measure_sampling_ms"

  o = "{\n  \"benchmark\": \"petrel vs QEMU, issues #6 and #12\",\n"
  o = o "  \"ok\": " (nproblems ? "false" : "true") ",\n"
  o = o "  \"smoke\": " (smoke ? "true" : "false") ",\n  \"runs\": " runs ",\n  \"warmup\": " warmup ",\n"
  o = o "  \"kinds\": " jstr(kinds) ",\n"
  o = o "  \"guest\": {\"vcpus\": 1, \"memory_mib\": " ram_mib ", \"cmdline\": " jstr(cmdline) ", \"qemu_cpu\": " jstr(qemu_cpu) \
    ", \"disk_cmdline\": " jstr(blk_cmdline) ", \"disk_mib\": " disk_mib \
    ", \"psci_guest\": \"tests/guests/psci.S (PSCI SYSTEM_OFF at once), 1 vCPU, no console\", \"psci_memory_mib\": " psci_ram_mib "},\n"
  o = o "  \"environment\": {\"l1_kernel\": " jstr(l1["kernel"]) ", \"l1_cpus\": " (l1["cpus"] == "" ? "null" : l1["cpus"]) \
    ", \"qemu\": " jstr(l1["qemu"]) ", \"qemu_package\": " jstr(qemu_deb) ", \"petrel\": " jstr(petrel_path) ", \"kvmtool\": " (has_kvmtool ? jstr(kvmtool_path) : "null") \
    ", \"l1_seconds\": " l1_seconds ", \"note\": \"times are emulated (L1 is QEMU TCG on x86_64): compare within one run only\"},\n"
  o = o "  \"figures\": {\n"
  for (i = 1; i <= nfig; i++) {
    k = figs[i]
    o = o "    " jstr(jname[k]) ": "
    o = o "{\"description\": " jstr(desc[k]) ", \"petrel\": " jstats(k "|petrel")
    if (k != "self") o = o ", \"qemu\": " jstats(k "|qemu") ", \"ratio_of_medians\": " (ratio[k] == "" ? "null" : sprintf("%.4f", ratio[k]))
    if (row_kind[k] == "psci" && has_kvmtool)
      o = o ", \"kvmtool\": " jstats(k "|kvmtool") ", \"ratio_of_medians_kvmtool\": " (kratio[k] == "" ? "null" : sprintf("%.4f", kratio[k]))
    if (k in target) o = o ", \"target\": " jstr(target[k]) ", \"target_met\": " (k in met ? (met[k] ? "true" : "false") : "null")
    o = o "}"
    o = o (i < nfig ? ",\n" : "\n")
  }
  o = o "  },\n"
  o = o "  \"problems\": ["
  for (p = 1; p <= nproblems; p++) o = o (p > 1 ? ", " : "") jstr(problems[p])
  o = o "],\n  \"remarks\": ["
  for (p = 1; p <= nnotes; p++) o = o (p > 1 ? ", " : "") jstr(notes[p])
  o = o "],\n  \"results\": [\n"
  for (r = 1; r <= nresults; r++) {
    delete f
    nf = split(line[r], parts, " ")
    s = "    {\"kind\": " (parts[1] == "BENCH-BLK-RESULT" ? "\"disk\"" : parts[1] == "BENCH-PSCI-RESULT" ? "\"psci\"" : "\"boot\"")
    for (i = 2; i <= nf; i++) {
      eq = index(parts[i], "=")
      if (eq == 0) continue
      key = substr(parts[i], 1, eq - 1)
      val = substr(parts[i], eq + 1)
      s = s ", " jstr(key) ": " (val ~ /^-?[0-9]+(\.[0-9]+)?$/ ? val : jstr(val))
    }
    o = o s "}" (r < nresults ? ",\n" : "\n")
  }
  o = o "  ]\n}\n"
  printf "%s", o > json
  close(json)
  printf "\nJSON: %s\n", json
  exit nproblems ? 1 : 0
}

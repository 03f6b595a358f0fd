# trace.awk: turns the ftrace records of figure 7's traced petrel runs (BENCH_TRACE=N, the
# BENCH-TRACE lines of bench/l1-init.sh's trace_psci) into one timeline per run, for
# bench/run.sh: every system call of petrel's threads with its duration, and the process
# and kprobe events, in ms from petrel's execve. Plain POSIX awk (mawk works).
#
#   start_ms  gap_ms  tid  [dur_ms]  what
#
# gap_ms: time since the previous line's call or event ended (negative while threads
# overlap). A call that never returned (exit, exit_group) has no duration.
#
# After the timelines, a stage table: each run's time split at calls every petrel run
# makes in the same order (README, "Tracing figure 7"), and the median of each stage over
# the runs, so two builds' traces compare stage by stage.

# The stages, in order; each ends where the next begins.
function stage_setup() {
  nstage = split("exec start-up command-line config-to-VM VM-and-payload threads guest teardown exit", stage_name, " ")
  stage_what["exec"] = "execve to sched_process_exec (the kernel loads the binary)"
  stage_what["start-up"] = "to main's first rt_sigprocmask (libc, static constructors)"
  stage_what["command-line"] = "to the first openat (CLI11, logging)"
  stage_what["config-to-VM"] = "to KVM_CREATE_VM (config, lock, supervisor, boot plan)"
  stage_what["VM-and-payload"] = "to the last KVM_SET_ONE_REG (RAM, GIC, vCPU, kernel, dtb)"
  stage_what["threads"] = "to the first KVM_RUN (event loops, vCPU thread)"
  stage_what["guest"] = "KVM_RUN to its return (SYSTEM_OFF)"
  stage_what["teardown"] = "to exit_group (joins, VM fd close, console flush)"
  stage_what["exit"] = "to do_notify_parent (exit_mmap: the kernel's teardown)"
}

# The stage boundaries of the sorted run 1..nev; a run missing one is left out of the table.
function add_stages(   i, main, b, name, cmd, n, ok, s, destroy) {
  main = tid[1]
  for (s = 1; s <= nstage + 1; s++) b[s] = ""
  b[1] = st[1]
  destroy = ""
  for (i = 2; i <= nev; i++) {
    name = what[i]; sub(/[(:].*/, "", name)
    cmd = ""
    if (name == "ioctl" && match(what[i], /cmd: [0-9a-f]+/)) cmd = substr(what[i], RSTART + 5, RLENGTH - 5)
    if (name == "sched_process_exec" && b[2] == "") b[2] = st[i]
    else if (tid[i] == main && name == "rt_sigprocmask" && b[2] != "" && b[3] == "") b[3] = st[i]
    else if (tid[i] == main && name == "openat" && b[3] != "" && b[4] == "") b[4] = st[i]
    else if (cmd == "ae01" && b[5] == "") b[5] = st[i]
    else if (cmd == "4010aeac" && b[5] != "" && b[7] == "" && dur[i] != "") b[6] = st[i] + dur[i]
    else if (cmd == "ae80" && b[7] == "" && dur[i] != "") { b[7] = st[i]; b[8] = st[i] + dur[i] }
    else if (name == "exit_group" && tid[i] == main) b[9] = st[i]
    # From whichever thread ends last (a joined thread may still be exiting).
    else if (name == "do_notify_parent" && b[9] != "" && b[10] == "") b[10] = st[i]
    else if (name == "kvm_destroy_vm") destroy = st[i]
    else if (name == "kvm_destroy_vm_ret" && destroy != "") extra["kvm_destroy_vm", nruns + 1] = st[i] - destroy
  }
  ok = 1
  for (s = 1; s <= nstage + 1; s++) if (b[s] == "") ok = 0
  if (!ok) { missing++; return }
  nruns++
  for (s = 1; s <= nstage; s++) val[stage_name[s], nruns] = b[s + 1] - b[s]
  val["total", nruns] = b[nstage + 1] - b[1]
}

function median(key, count,   i, j, t, v) {
  for (i = 1; i <= count; i++) v[i] = val[key, i]
  for (i = 2; i <= count; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
  return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
}

function print_stage_row(key, label,   i) {
  printf "  %-15s %8.1f  ", key, median(key, nruns)
  for (i = 1; i <= nruns; i++) printf " %7.1f", val[key, i]
  printf "  %s\n", label
}

function print_stages(   s, i, have) {
  printf "# stages: ms, median of %d traced run(s), then each run%s\n", nruns, missing ? sprintf(" (%d run(s) without every stage left out)", missing) : ""
  if (nruns == 0) return
  for (s = 1; s <= nstage; s++) print_stage_row(stage_name[s], stage_what[stage_name[s]])
  print_stage_row("total", "execve to do_notify_parent (traced: slower than the table)")
  have = 0
  for (i = 1; i <= nruns; i++) if ((("kvm_destroy_vm", i) in extra)) { val["kvm_destroy_vm", i] = extra["kvm_destroy_vm", i]; have++ }
  if (have == nruns) print_stage_row("kvm_destroy_vm", "of teardown: the kernel freeing the VM (kprobe)")
}

function flush_run(   i, j, t, prev, key) {
  if (nev == 0) return
  # Sort by start time (insertion sort: a few hundred lines).
  for (i = 2; i <= nev; i++) {
    t = st[i]; w = what[i]; d = dur[i]; p = tid[i]
    for (j = i - 1; j >= 1 && st[j] > t; j--) { st[j + 1] = st[j]; what[j + 1] = what[j]; dur[j + 1] = dur[j]; tid[j + 1] = tid[j] }
    st[j + 1] = t; what[j + 1] = w; dur[j + 1] = d; tid[j + 1] = p
  }
  printf "# %s\n", header
  printf "# %9s %9s %6s %10s  %s\n", "start_ms", "gap_ms", "tid", "[dur_ms]", "system call or event"
  prev = 0
  for (i = 1; i <= nev; i++) {
    printf "  %9.3f %+9.3f %6d %10s  %s\n", st[i], st[i] - prev, tid[i], dur[i] == "" ? "" : sprintf("[%.3f]", dur[i]), what[i]
    e = dur[i] == "" ? st[i] : st[i] + dur[i]
    if (e > prev) prev = e
  }
  printf "\n"
  add_stages()
  nev = 0; started = 0
  for (key in open_call) delete open_call[key]
}

BEGIN { nev = 0; started = 0; nruns = 0; missing = 0; stage_setup() }

/^BENCH-TRACE-BEGIN / { flush_run(); header = "petrel PSCI run " $2 " traced: " substr($0, index($0, $3)); next }
/^BENCH-TRACE-END/ { flush_run(); next }
/^BENCH-TRACE / {
  line = substr($0, 13)
  # "  comm-tid  [cpu] flags  seconds: event"
  if (!match(line, /-[0-9]+ +\[[0-9]+\] [^ ]+ +[0-9]+\.[0-9]+: /)) next
  head = substr(line, RSTART, RLENGTH)
  ev = substr(line, RSTART + RLENGTH)
  n = split(head, h, " ")
  pid = substr(h[1], 2) + 0
  ts = h[4]; sub(/:$/, "", ts); ts += 0
  # The timeline starts at the launcher's execve: the first one after tracing began.
  if (!started) {
    if (ev !~ /^sys_execve\(/) next
    started = 1; t0 = ts
  }
  ms = (ts - t0) * 1000
  if (ev ~ /^sys_[a-z0-9_]+ -> /) {          # a call returns
    name = ev; sub(/^sys_/, "", name); sub(/ -> .*/, "", name)
    ret = ev; sub(/.* -> /, "", ret)
    key = pid SUBSEP name
    if (key in open_call) {
      i = open_call[key]; delete open_call[key]
      dur[i] = ms - st[i]; what[i] = what[i] " = " ret
    }
    next
  }
  nev++
  st[nev] = ms; tid[nev] = pid; dur[nev] = ""
  if (ev ~ /^sys_[a-z0-9_]+\(/) {            # a call enters
    name = ev; sub(/^sys_/, "", name); sub(/\(.*/, "", name)
    what[nev] = substr(ev, 5)
    open_call[pid SUBSEP name] = nev
  } else what[nev] = ev
}

END { flush_run(); print_stages() }

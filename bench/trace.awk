# trace.awk: turns the ftrace records of figure 7's traced petrel runs (BENCH_TRACE=N, the
# BENCH-TRACE lines of bench/l1-init.sh's trace_psci) into one timeline per run, for
# bench/run.sh: every system call of petrel's threads with its duration, and the process
# and kprobe events, in ms from petrel's execve. Plain POSIX awk (mawk works).
#
#   start_ms  gap_ms  tid  [dur_ms]  what
#
# gap_ms: time since the previous line's call or event ended (negative while threads
# overlap). A call that never returned (exit, exit_group) has no duration.

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
  nev = 0; started = 0
  for (key in open_call) delete open_call[key]
}

BEGIN { nev = 0; started = 0 }

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

END { flush_run() }

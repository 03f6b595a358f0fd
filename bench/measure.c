// measure: runs one VM launcher and measures it, for bench/run.sh (inside L1, the emulated
// arm64 host). Built static for aarch64 by bench/run.sh:
//
//   measure [-m MARKER] [-e TEXT] [-k] [-t SECONDS] [-r BYTES] [-o FILE] [-E FILE]
//           [-p MS] [-s MS] [-T TRACEFS] -- COMMAND [ARG...]
//
//   -m MARKER  console marker: the time of the first stdout line containing it
//              (default PETREL-GUEST-INIT-OK)
//   -e TEXT    stderr marker: the time the first stderr line containing TEXT arrives
//   -k         kill the launcher (SIGKILL) as soon as the stderr marker arrived
//   -t SECONDS time bound: then SIGTERM to the launcher's process group, 5 s later SIGKILL
//              (default 60)
//   -r BYTES   guest RAM size, to find the guest RAM mapping in /proc/PID/smaps (default 256M)
//   -o FILE    copy of the launcher's stdout (the guest console); -E FILE: its stderr
//   -p MS      /proc/PID/status poll period for VmHWM (default 50)
//   -T TRACEFS the tracefs root (e.g. /sys/kernel/tracing) when the caller armed the
//              syscalls:sys_enter_ioctl event with a traceoff trigger: once tracing_on
//              reads 0 (the event fired), measure disables the event, so that the
//              syscall tracepoint slows the launcher only until its first KVM_RUN
//   -s MS      /proc/PID/smaps is read for the guest RAM's Rss when the marker arrives and
//              then on later stdout chunks, at most every MS (default 250): the guest RAM
//              only grows, and after the marker the guest just powers off. Not before the
//              marker: one smaps read of QEMU costs ~200 ms of emulated CPU in L1, which
//              would compete with the launcher being measured.
//
// It prints one line on stdout, "MEASURE key=value ...", all times in ms from the
// launcher's execve (taken in the child right before execve, CLOCK_MONOTONIC):
//   first_byte_ms   first byte on the launcher's stdout
//   marker_ms       first stdout line with MARKER            (-1: never seen)
//   errmark_ms      arrival of the first stderr line with TEXT (-1: never seen / no -e)
//   exit_ms         the launcher's exit (its pidfd became readable)
//   user_ms sys_ms  wait4() rusage: CPU time of all its threads; on Linux user time
//                   includes the time its vCPU threads spent running the guest
//   guest_ms        that guest time: this process's cguest_time (/proc/self/stat field 44)
//                   before and after reaping the launcher, its only child; clock ticks
//   hwm_kib         VmHWM (peak RSS) at the last /proc/PID/status read before the exit (it is
//                   also read with every smaps read)
//   guest_rss_kib   Rss of the guest RAM mapping at the last smaps read before the exit:
//                   the anonymous mapping whose size is BYTES to BYTES + 16 MiB (largest
//                   Rss if several); -1 when none was found
//   rss_at_smaps_kib VmRSS read right before that smaps read: with guest_rss_kib, the
//                   non-guest resident memory at one instant
//   exit            "code:N", "signal:N"; timed_out 1 if the time bound stopped it
//   sampling_ms     time measure spent reading /proc/PID/{status,smaps} (its perturbation)
//   exec_mono_s     the execve time itself, CLOCK_MONOTONIC in seconds (to line up with
//                   kernel trace events recorded with trace_clock "mono")
//   minflt majflt   wait4() rusage: page faults of all its threads (minor: the page was in
//                   memory, e.g. the binary's text in L1's initramfs; major: read from disk)
// Exit status: 0 when the launcher ran (whatever its own status), 2 on a usage error,
// 1 when it could not be started or measured.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static double ts_ms(const struct timespec* t) { return t->tv_sec * 1e3 + t->tv_nsec / 1e6; }
static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ts_ms(&t);
}

static void die(const char* what) {
  fprintf(stderr, "measure: %s: %s\n", what, strerror(errno));
  exit(1);
}

// Field N (1-based, as in proc(5)) of /proc/<pid>/stat, or -1.
static long long stat_field(const char* path, int n) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return -1;
  buf[len] = 0;
  char* p = strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (p == NULL) return -1;
  p += 2;                       // now at field 3 (state)
  for (int field = 3; field < n; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return -1;
    p++;
  }
  return strtoll(p, NULL, 10);
}

// A line-oriented scanner over one of the launcher's output pipes.
struct stream {
  int fd;
  int copy;          // copy of everything read, or -1
  const char* text;  // marker to look for, or NULL
  double seen_ms;    // when the marker arrived, -1 before
  double first_ms;   // first byte, -1 before
  char line[8192];
  size_t len;
};

static void scan(struct stream* s, const char* data, size_t n, double t) {
  if (n > 0 && s->first_ms < 0) s->first_ms = t;
  if (s->copy >= 0) {
    size_t off = 0;
    while (off < n) {
      ssize_t w = write(s->copy, data + off, n - off);
      if (w <= 0) break;
      off += (size_t)w;
    }
  }
  if (s->text == NULL || s->seen_ms >= 0) return;
  for (size_t i = 0; i < n; i++) {
    char c = data[i];
    if (c == '\n' || s->len == sizeof s->line - 1) {
      s->line[s->len] = 0;
      if (strstr(s->line, s->text) != NULL) {
        s->seen_ms = t;
        return;
      }
      s->len = 0;
      if (c == '\n') continue;
    }
    s->line[s->len++] = c == 0 ? ' ' : c;
  }
  // A marker already complete in an unterminated line counts too (a prompt, a last line).
  s->line[s->len] = 0;
  if (strstr(s->line, s->text) != NULL) s->seen_ms = t;
}

// Reads what is there; returns 0 at EOF or on an error (the stream is then closed).
static int pump(struct stream* s, double t) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n > 0) {
      scan(s, buf, (size_t)n, t);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    close(s->fd);
    s->fd = -1;
    return 0;
  }
}

static long long hwm_kib = -1, guest_rss_kib = -1, rss_kib = -1, rss_at_smaps_kib = -1;
static int status_samples, smaps_samples;
static double sampling_ms;

static void sample_status(pid_t pid) {
  const double t0 = now_ms();
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE* f = fopen(path, "re");
  if (f == NULL) return;
  while (fgets(line, sizeof line, f) != NULL) {
    long long v;
    if (sscanf(line, "VmHWM: %lld kB", &v) == 1) {
      if (v > hwm_kib) hwm_kib = v;
      status_samples++;
    } else if (sscanf(line, "VmRSS: %lld kB", &v) == 1) {
      rss_kib = v;  // comes right after VmHWM
      break;
    }
  }
  fclose(f);
  sampling_ms += now_ms() - t0;
}

static void sample_smaps(pid_t pid, long long ram_kib) {
  const double t0 = now_ms();
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
  FILE* f = fopen(path, "re");
  if (f == NULL) return;
  char* line = NULL;
  size_t cap = 0;
  int anon = 0, candidate = 0;
  long long best = -1;
  while (getline(&line, &cap, f) > 0) {
    unsigned long start, end, inode;
    char perms[8], dev[16];
    unsigned long long offset;
    int consumed = 0;
    if (sscanf(line, "%lx-%lx %7s %llx %15s %lu %n", &start, &end, perms, &offset, dev, &inode, &consumed) >= 6 &&
        consumed > 0) {
      const char* name = line + consumed;
      anon = inode == 0 && (name[0] == '\n' || name[0] == 0 || strncmp(name, "[anon", 5) == 0);
      long long size_kib = (long long)((end - start) >> 10);
      candidate = anon && size_kib >= ram_kib && size_kib <= ram_kib + 16384;
      continue;
    }
    long long v;
    if (candidate && sscanf(line, "Rss: %lld kB", &v) == 1 && v > best) best = v;
  }
  free(line);
  fclose(f);
  smaps_samples++;
  if (best >= 0) {  // a sample taken mid-teardown keeps the last one
    guest_rss_kib = best;
    rss_at_smaps_kib = rss_kib;
  }
  sampling_ms += now_ms() - t0;
}

// Disables the traced event once its traceoff trigger fired; returns 1 when done.
static int retire_tracer(const char* tracefs) {
  char path[512], c = '1';
  snprintf(path, sizeof path, "%s/tracing_on", tracefs);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, &c, 1);
  close(fd);
  if (n == 1 && c == '1') return 0;
  snprintf(path, sizeof path, "%s/events/syscalls/sys_enter_ioctl/enable", tracefs);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, "0", 1) != 1) {}
    close(fd);
  }
  return 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: measure [-m MARKER] [-e TEXT] [-k] [-t SECONDS] [-r BYTES] [-o FILE] [-E FILE]\n"
          "               [-p MS] [-s MS] [-T TRACEFS] -- COMMAND [ARG...]\n");
  exit(2);
}

int main(int argc, char** argv) {
  const char* marker = "PETREL-GUEST-INIT-OK";
  const char* errmark = NULL;
  const char* out_copy = NULL;
  const char* err_copy = NULL;
  const char* tracefs = NULL;
  int kill_on_errmark = 0;
  double limit_s = 60, status_period = 50, smaps_period = 250;
  long long ram_bytes = 256ll << 20;
  int opt;
  while ((opt = getopt(argc, argv, "+m:e:kt:r:o:E:p:s:T:")) != -1) {
    switch (opt) {
      case 'm': marker = optarg; break;
      case 'e': errmark = optarg; break;
      case 'k': kill_on_errmark = 1; break;
      case 't': limit_s = atof(optarg); break;
      case 'r': ram_bytes = atoll(optarg); break;
      case 'o': out_copy = optarg; break;
      case 'E': err_copy = optarg; break;
      case 'p': status_period = atof(optarg); break;
      case 's': smaps_period = atof(optarg); break;
      case 'T': tracefs = optarg; break;
      default: usage();
    }
  }
  if (optind >= argc || limit_s <= 0 || ram_bytes <= 0 || status_period <= 0 || smaps_period <= 0) usage();
  char** command = argv + optind;
  const long long ram_kib = ram_bytes >> 10;
  const long ticks = sysconf(_SC_CLK_TCK);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) die("pipe");
  struct timespec* exec_time =
      mmap(NULL, sizeof *exec_time, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (exec_time == MAP_FAILED) die("mmap");
  const long long cguest_before = stat_field("/proc/self/stat", 44);

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    setpgid(0, 0);  // its own process group, so the time bound reaches anything it starts
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(126);
    clock_gettime(CLOCK_MONOTONIC, exec_time);
    execvp(command[0], command);
    dprintf(2, "measure: cannot run %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);  // readable once it exited (Linux 5.3+)

  struct stream so = {.fd = out[0], .copy = -1, .text = marker, .seen_ms = -1, .first_ms = -1};
  struct stream se = {.fd = err[0], .copy = -1, .text = errmark, .seen_ms = -1, .first_ms = -1};
  if (out_copy && (so.copy = open(out_copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) die(out_copy);
  if (err_copy && (se.copy = open(err_copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) die(err_copy);

  const double start = now_ms();
  double next_status = start, last_smaps = -1e9;
  double term_at = start + limit_s * 1e3, kill_at = 0;
  int timed_out = 0, killed_on_mark = 0;
  double exit_t = -1;
  int exited = 0;
  while (!exited) {
    double t = now_ms();
    if (t >= next_status) {
      if (tracefs != NULL && retire_tracer(tracefs)) tracefs = NULL;
      sample_status(pid);
      next_status = t + status_period;
    }
    if (!timed_out && t >= term_at) {
      timed_out = 1;
      kill(-pid, SIGTERM);
      kill_at = t + 5000;
    }
    if (kill_at > 0 && t >= kill_at) {
      kill(-pid, SIGKILL);
      kill_at = 0;
    }
    double wake = next_status;
    if (!timed_out && term_at < wake) wake = term_at;
    if (kill_at > 0 && kill_at < wake) wake = kill_at;
    int timeout = (int)(wake - t) + 1;
    if (timeout < 0) timeout = 0;

    struct pollfd fds[3];
    int n = 0, i_out = -1, i_err = -1, i_pid = -1;
    if (so.fd >= 0) { fds[n] = (struct pollfd){.fd = so.fd, .events = POLLIN}; i_out = n++; }
    if (se.fd >= 0) { fds[n] = (struct pollfd){.fd = se.fd, .events = POLLIN}; i_err = n++; }
    if (pidfd >= 0) { fds[n] = (struct pollfd){.fd = pidfd, .events = POLLIN}; i_pid = n++; }
    if (pidfd < 0 && timeout > 5) timeout = 5;  // no pidfd: waitid polling below
    int r = poll(fds, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) die("poll");
    t = now_ms();
    if (r > 0 && i_out >= 0 && fds[i_out].revents) {
      pump(&so, t);
      // From the marker on the guest is about to power off: keep the guest RAM figure fresh.
      if (so.seen_ms >= 0 && t - last_smaps >= smaps_period) {
        sample_status(pid);
        sample_smaps(pid, ram_kib);
        last_smaps = t;
      }
    }
    if (r > 0 && i_err >= 0 && fds[i_err].revents) {
      pump(&se, t);
      if (kill_on_errmark && se.seen_ms >= 0 && !killed_on_mark) {
        killed_on_mark = 1;
        kill(-pid, SIGKILL);
      }
    }
    if (i_pid >= 0 ? (r > 0 && fds[i_pid].revents) : 0) {
      exited = 1;
    } else if (pidfd < 0) {
      siginfo_t info = {0};
      if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) exited = 1;
    }
    if (exited) exit_t = t;
  }
  // Whatever is still in the pipes (the process is gone; nothing else holds them).
  if (so.fd >= 0) { fcntl(so.fd, F_SETFL, 0); while (pump(&so, exit_t)) {} }
  if (se.fd >= 0) { fcntl(se.fd, F_SETFL, 0); while (pump(&se, exit_t)) {} }
  if (kill_at > 0) kill(-pid, SIGKILL);  // nothing of its group outlives the measurement

  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) die("wait4");
  const long long cguest_after = stat_field("/proc/self/stat", 44);
  const double exec_ms = ts_ms(exec_time);
  double user_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
  double sys_ms = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
  double guest_ms = cguest_before >= 0 && cguest_after >= 0 ? (cguest_after - cguest_before) * 1e3 / ticks : -1;
  char how[32];
  if (WIFEXITED(status)) snprintf(how, sizeof how, "code:%d", WEXITSTATUS(status));
  else snprintf(how, sizeof how, "signal:%d", WTERMSIG(status));
#define REL(x) ((x) >= 0 ? (x) - exec_ms : -1.0)
  printf("MEASURE exit=%s timed_out=%d first_byte_ms=%.3f marker_ms=%.3f errmark_ms=%.3f exit_ms=%.3f "
         "user_ms=%.3f sys_ms=%.3f guest_ms=%.3f hwm_kib=%lld guest_rss_kib=%lld "
         "rss_at_smaps_kib=%lld status_samples=%d "
         "smaps_samples=%d sampling_ms=%.3f killed_on_errmark=%d exec_mono_s=%.6f minflt=%ld majflt=%ld\n",
         how, timed_out, REL(so.first_ms), REL(so.seen_ms), REL(se.seen_ms), REL(exit_t), user_ms, sys_ms,
         guest_ms, hwm_kib, guest_rss_kib, rss_at_smaps_kib, status_samples, smaps_samples, sampling_ms, killed_on_mark, exec_ms / 1e3,
         ru.ru_minflt, ru.ru_majflt);
  fflush(stdout);
  return 0;
}

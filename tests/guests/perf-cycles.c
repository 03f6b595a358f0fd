// perf-cycles: counts the CPU cycles of a busy loop through the kernel's perf_event
// interface, which reads the vCPU's PMU (PMCCNTR_EL0). Prints "GUEST-PMU-CYCLES N", or
// "GUEST-PMU-ERROR why" when the guest has no PMU (perf_event_open fails with ENOENT or
// EOPNOTSUPP). Built static for the nested tests' guest initramfs (tests/guests/build.sh).
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  const int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (fd < 0) {
    printf("GUEST-PMU-ERROR perf_event_open: %s\n", strerror(errno));
    return 1;
  }
  ioctl(fd, PERF_EVENT_IOC_RESET, 0);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  volatile uint64_t sum = 0;
  for (uint64_t i = 0; i < 10000000; ++i) sum += i;
  ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  uint64_t cycles = 0;
  if (read(fd, &cycles, sizeof(cycles)) != (ssize_t)sizeof(cycles)) {
    printf("GUEST-PMU-ERROR read: %s\n", strerror(errno));
    return 1;
  }
  printf("GUEST-PMU-CYCLES %llu\n", (unsigned long long)cycles);
  return 0;
}

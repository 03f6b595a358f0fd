#include "arch/arm64/vcpu.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "core/interrupting_signal.h"
#include "core/log.h"

namespace petrel::arm64 {

namespace {
// Sent to a vCPU thread to knock it out of KVM_RUN (with EINTR).
constexpr int kKickSignal = SIGUSR1;
// EL1h with debug, SError, IRQ and FIQ masked.
constexpr uint64_t kBootPstate = 0x3c5;
constexpr uint32_t kMaxUnclaimedMmioReports = 8;

constexpr uint64_t core_register(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}
constexpr uint64_t kRegPc = core_register(offsetof(kvm_regs, regs.pc));
constexpr uint64_t kRegPstate = core_register(offsetof(kvm_regs, regs.pstate));
constexpr uint64_t kRegX0 = core_register(offsetof(kvm_regs, regs.regs[0]));
constexpr uint64_t kRegMpidr = ARM64_SYS_REG(3, 0, 0, 0, 5);

std::unexpected<Error> start_failure(uint32_t index, std::string what) {
  return fail(ExitCode::kVcpuStartFailure, fmt::format("vCPU {}: {}", index, what));
}

std::string_view exit_reason_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_ARM_NISV: return "KVM_EXIT_ARM_NISV";
    default: return "an unexpected exit";
  }
}
}  // namespace

Result<std::unique_ptr<Vcpu>> Vcpu::create(const KvmVm& vm, uint32_t index, bool pmu,
                                           const kvm_vcpu_init& target) {
  install_interrupting_handler(kKickSignal);
  const int fd = ioctl(vm.vm_fd(), KVM_CREATE_VCPU, index);
  if (fd < 0) return start_failure(index, fmt::format("KVM_CREATE_VCPU: {}", strerror(errno)));
  UniqueFd vcpu_fd(fd);
  void* run = mmap(nullptr, vm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED)
    return start_failure(index, fmt::format("mmap kvm_run: {}", strerror(errno)));
  std::unique_ptr<Vcpu> vcpu(
      new Vcpu(index, std::move(vcpu_fd), static_cast<kvm_run*>(run), vm.vcpu_mmap_size()));

  kvm_vcpu_init init = target;
  init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (index > 0) init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
  if (pmu) init.features[0] |= 1u << KVM_ARM_VCPU_PMU_V3;
  if (ioctl(fd, KVM_ARM_VCPU_INIT, &init) != 0) {
    return start_failure(index, fmt::format("KVM_ARM_VCPU_INIT: {}", strerror(errno)));
  }
  return vcpu;
}

Result<> Vcpu::init_pmu(uint32_t intid) const {
  int irq = static_cast<int>(intid);
  kvm_device_attr attr{};
  attr.group = KVM_ARM_VCPU_PMU_V3_CTRL;
  attr.attr = KVM_ARM_VCPU_PMU_V3_IRQ;
  attr.addr = reinterpret_cast<uint64_t>(&irq);
  if (ioctl(fd_.get(), KVM_SET_DEVICE_ATTR, &attr) != 0) {
    return start_failure(index_, fmt::format("PMU interrupt {}: {}", intid, strerror(errno)));
  }
  attr.attr = KVM_ARM_VCPU_PMU_V3_INIT;
  attr.addr = 0;
  if (ioctl(fd_.get(), KVM_SET_DEVICE_ATTR, &attr) != 0) {
    return start_failure(index_, fmt::format("PMU initialisation: {}", strerror(errno)));
  }
  return {};
}

Vcpu::~Vcpu() {
  request_stop();
  join();
  munmap(run_, run_size_);
}

Result<> Vcpu::set_register(uint64_t id, uint64_t value) const {
  kvm_one_reg reg{id, reinterpret_cast<uint64_t>(&value)};
  if (ioctl(fd_.get(), KVM_SET_ONE_REG, &reg) != 0) {
    return start_failure(index_, fmt::format("KVM_SET_ONE_REG {:#x}: {}", id, strerror(errno)));
  }
  return {};
}

Result<uint64_t> Vcpu::get_register(uint64_t id) const {
  uint64_t value = 0;
  kvm_one_reg reg{id, reinterpret_cast<uint64_t>(&value)};
  if (ioctl(fd_.get(), KVM_GET_ONE_REG, &reg) != 0) {
    return start_failure(index_, fmt::format("KVM_GET_ONE_REG {:#x}: {}", id, strerror(errno)));
  }
  return value;
}

Result<uint64_t> Vcpu::mpidr() const { return get_register(kRegMpidr); }

Result<> Vcpu::set_boot_registers(uint64_t entry, uint64_t device_tree) const {
  TRY(set_register(kRegPstate, kBootPstate));
  TRY(set_register(kRegX0, device_tree));
  return set_register(kRegPc, entry);
}

uint64_t Vcpu::program_counter() const {
  auto pc = get_register(kRegPc);
  return pc ? *pc : 0;
}

Result<> Vcpu::start(VcpuExitHandler& handler, PauseGate& gate) {
  try {
    thread_ = std::thread([this, &handler, &gate] { run_loop(handler, gate); });
  } catch (const std::system_error& error) {
    return start_failure(index_, fmt::format("cannot start its thread: {}", error.what()));
  }
  return {};
}

void Vcpu::request_stop() {
  stop_ = true;
  // immediate_exit covers the window between the thread checking stop_ and entering
  // KVM_RUN; the signal covers a thread already inside it. Under the lock the thread takes
  // to say it ends, so the signal never reaches a thread that has ended and may have been
  // joined (its id then names nothing, or another thread).
  kick();
}

void Vcpu::kick() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  std::lock_guard lock(thread_mutex_);
  if (thread_running_) pthread_kill(thread_handle_, kKickSignal);
}

void Vcpu::join() {
  if (thread_.joinable()) thread_.join();
}

void Vcpu::run_loop(VcpuExitHandler& handler, PauseGate& gate) {
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, kKickSignal);
  pthread_sigmask(SIG_UNBLOCK, &kick, nullptr);
  {
    std::lock_guard lock(thread_mutex_);
    thread_handle_ = pthread_self();
    thread_running_ = true;
  }
  run_guest(handler, gate);
  gate.leave();
  std::lock_guard lock(thread_mutex_);
  thread_running_ = false;
}

void Vcpu::run_guest(VcpuExitHandler& handler, PauseGate& gate) {
  if (index_ == 0) spdlog::debug("vCPU 0: first KVM_RUN after {:.3f} ms", elapsed_since_start_ms());
  for (;;) {
    // In this order, so no kick is lost: a pause closes the gate and a stop sets stop_
    // before the kick sets immediate_exit. Clearing immediate_exit before looking at the
    // gate and stop_ means either this thread sees them, or immediate_exit is set again
    // after the clear and KVM_RUN returns at once (having completed a pending MMIO read).
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
    gate.park_point();
    if (stop_) return;
    if (ioctl(fd_.get(), KVM_RUN, 0) != 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int error = errno;
      const char* hint =
          error == ENOSYS
              ? " (an MMIO access KVM cannot decode, such as a load/store pair to a device)"
              : "";
      handler.vcpu_failed({ExitCode::kVcpuRuntimeFailure,
                           fmt::format("vCPU {}: KVM_RUN failed: {}{} at guest PC {:#x}", index_,
                                       strerror(error), hint, program_counter())});
      return;
    }
    if (!handle_exit(handler)) return;
  }
}

bool Vcpu::handle_exit(VcpuExitHandler& handler) {
  switch (run_->exit_reason) {
    case KVM_EXIT_MMIO: {
      auto& mmio = run_->mmio;
      const size_t length = std::min<size_t>(mmio.len, sizeof(mmio.data));
      const bool claimed =
          mmio.is_write
              ? handler.mmio_write(mmio.phys_addr, std::span<const uint8_t>(mmio.data, length))
              : handler.mmio_read(mmio.phys_addr, std::span<uint8_t>(mmio.data, length));
      if (!claimed) {
        // Like a bus with nothing behind it: reads see zero, writes vanish.
        if (!mmio.is_write) std::memset(mmio.data, 0, sizeof(mmio.data));
        if (unclaimed_mmio_reports_ < kMaxUnclaimedMmioReports) {
          ++unclaimed_mmio_reports_;
          spdlog::warn("vCPU {}: {}-byte {} at {:#x}, where no device is (PC {:#x})", index_,
                       length, mmio.is_write ? "write" : "read", mmio.phys_addr, program_counter());
        }
      }
      return true;
    }
    case KVM_EXIT_SYSTEM_EVENT:
      switch (run_->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN: handler.guest_exited(GuestExit::kPowerOff); return false;
        case KVM_SYSTEM_EVENT_RESET:
        case KVM_SYSTEM_EVENT_CRASH: handler.guest_exited(GuestExit::kReset); return false;
        default: return true;  // wake-up and suspend requests need nothing from us
      }
    case KVM_EXIT_INTR: return true;
    case KVM_EXIT_ARM_NISV:
      handler.vcpu_failed({ExitCode::kVcpuRuntimeFailure,
                           fmt::format("vCPU {}: guest MMIO access at {:#x} that KVM cannot decode "
                                       "(e.g. a load/store pair to a device) at guest PC {:#x}",
                                       index_, run_->arm_nisv.fault_ipa, program_counter())});
      return false;
    default:
      handler.vcpu_failed(
          {ExitCode::kVcpuRuntimeFailure,
           fmt::format("vCPU {}: {} (exit reason {}) at guest PC {:#x}", index_,
                       exit_reason_name(run_->exit_reason), run_->exit_reason, program_counter())});
      return false;
  }
}

}  // namespace petrel::arm64

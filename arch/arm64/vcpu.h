#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "arch/arm64/kvm.h"
#include "core/error.h"
#include "core/lifecycle.h"
#include "core/pause_gate.h"
#include "core/unique_fd.h"

namespace petrel::arm64 {

// What a running vCPU needs from its machine. Called on the vCPU's own thread.
class VcpuExitHandler {
 public:
  virtual ~VcpuExitHandler() = default;
  virtual bool mmio_read(uint64_t address, std::span<uint8_t> data) = 0;
  virtual bool mmio_write(uint64_t address, std::span<const uint8_t> data) = 0;
  virtual void guest_exited(GuestExit how) = 0;
  virtual void vcpu_failed(Error error) = 0;
};

// One KVM vCPU and the host thread that runs it.
class Vcpu {
 public:
  // Creates and initialises vCPU `index` (PSCI 0.2; every vCPU but 0 starts powered off
  // and comes up through the guest's PSCI CPU_ON). Errors are VCPU_START_FAILURE.
  // `pmu`: with a PMUv3, which init_pmu() must then set up once the GIC is initialised.
  static Result<std::unique_ptr<Vcpu>> create(const KvmVm& vm, uint32_t index, bool pmu,
                                              const kvm_vcpu_init& target);
  ~Vcpu();  // stops and joins the thread, then releases the vCPU

  uint32_t index() const { return index_; }
  Result<uint64_t> mpidr() const;
  // The PMU's overflow interrupt (an INTID, the same on every vCPU) and its
  // initialisation, which KVM wants after the in-kernel GIC's.
  Result<> init_pmu(uint32_t intid) const;
  // The arm64 boot protocol's entry state: PC at the kernel, x0 = device tree, EL1h with
  // D, A, I and F masked.
  Result<> set_boot_registers(uint64_t entry, uint64_t device_tree) const;

  // Runs the vCPU on a thread of its own, which waits at `gate` while the guest is paused.
  Result<> start(VcpuExitHandler& handler, PauseGate& gate);
  // Makes KVM_RUN return promptly and the thread end; safe from any thread.
  void request_stop();
  // Makes KVM_RUN return promptly, so the thread passes its park point; from any thread.
  void kick();
  void join();

 private:
  Vcpu(uint32_t index, UniqueFd fd, kvm_run* run, size_t run_size)
      : index_(index), fd_(std::move(fd)), run_(run), run_size_(run_size) {}
  void run_loop(VcpuExitHandler& handler, PauseGate& gate);
  void run_guest(VcpuExitHandler& handler, PauseGate& gate);
  bool handle_exit(VcpuExitHandler& handler);
  uint64_t program_counter() const;
  Result<> set_register(uint64_t id, uint64_t value) const;
  Result<uint64_t> get_register(uint64_t id) const;

  const uint32_t index_;
  UniqueFd fd_;
  kvm_run* run_;
  size_t run_size_;
  std::thread thread_;
  // Whether thread_handle_ names a live thread that may be signalled.
  std::mutex thread_mutex_;
  bool thread_running_ = false;
  pthread_t thread_handle_{};
  std::atomic<bool> stop_{false};
  uint32_t unclaimed_mmio_reports_ = 0;
};

}  // namespace petrel::arm64

#include "arch/machine.h"

#include <fmt/format.h>
#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "arch/arm64/board.h"
#include "arch/arm64/describe.h"
#include "arch/arm64/gic.h"
#include "arch/arm64/kvm.h"
#include "arch/arm64/vcpu.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/log.h"
#include "vmm/device_threads.h"
#include "vmm/run_outcome.h"

namespace petrel::arm64 {

namespace {

class KvmInterruptLine final : public InterruptLine {
 public:
  KvmInterruptLine(const KvmVm& vm, uint32_t spi) : vm_(vm), spi_(spi) {}
  void set_level(bool asserted) override { vm_.set_spi_level(spi_, asserted); }

 private:
  const KvmVm& vm_;
  uint32_t spi_;
};

// An edge-triggered SPI that KVM injects from an eventfd, so a device loop raises it
// with one write and no ioctl.
class KvmEdgeInterrupt final : public EdgeInterrupt {
 public:
  static Result<std::unique_ptr<EdgeInterrupt>> bind(const KvmVm& vm, uint32_t spi) {
    UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("eventfd: {}", strerror(errno)));
    }
    TRY(vm.bind_irqfd(fd.get(), spi));
    return std::unique_ptr<EdgeInterrupt>(new KvmEdgeInterrupt(std::move(fd)));
  }
  void trigger() override { signal_eventfd(fd_.get()); }

 private:
  explicit KvmEdgeInterrupt(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

uint32_t address_bits(uint64_t end) { return static_cast<uint32_t>(std::bit_width(end - 1)); }

// Members are declared in construction order and destroyed in reverse: the vCPU
// threads and the event loop, which use the devices and memory, go first.
class Arm64Machine final : public Machine, private VcpuExitHandler {
 public:
  static Result<std::unique_ptr<Machine>> create(const Config& config, ConsoleSink& console);
  ~Arm64Machine() override { stop_threads(); }

  Result<> start() override;
  Result<GuestExit> wait() override;
  void request_stop() override;
  bool set_power_button(bool pressed) override;
  Result<> pause() override;
  void resume() override;

 private:
  Arm64Machine(KvmVm vm, GuestMemory memory) : vm_(std::move(vm)), memory_(std::move(memory)) {}

  Result<> create_vcpus(uint32_t count);
  Result<> load_payloads(const Config& config, const BootPlan& plan);
  Result<> connect_devices(const Config& config);
  void end_by_test_exit(uint8_t status);
  void stop_threads();

  bool mmio_read(uint64_t address, std::span<uint8_t> data) override {
    return board_->bus().read(address, data);
  }
  bool mmio_write(uint64_t address, std::span<const uint8_t> data) override {
    return board_->bus().write(address, data);
  }
  void guest_exited(GuestExit how) override { outcome_.end(how); }
  void vcpu_failed(Error error) override { outcome_.end(std::unexpected(std::move(error))); }

  KvmVm vm_;
  GuestMemory memory_;
  std::optional<Gic> gic_;
  bool pmu_ = false;
  std::unique_ptr<Board> board_;
  std::unique_ptr<PauseGate> pause_gate_;  // where the vCPUs wait while paused
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::unique_ptr<vmm::DeviceThreads> device_threads_;
  vmm::RunOutcome outcome_;
};

Result<std::unique_ptr<Machine>> Arm64Machine::create(const Config& config, ConsoleSink& console) {
  auto plan = TRY(plan_boot(config));

  const AddressRange ram = ram_range(config);
  auto vm = TRY(KvmVm::open(address_bits(ram.end())));
  spdlog::debug("create: KVM VM open at {:.1f} ms", elapsed_since_start_ms());
  // vhost-user backends (virtiofsd) map guest RAM themselves: then it must be a memfd.
  const auto sharing =
      config.shares_guest_memory() ? GuestMemory::Sharing::kShared : GuestMemory::Sharing::kPrivate;
  auto memory = TRY(GuestMemory::allocate(ram.base, ram.size, sharing));
  TRY(vm.map_memory(0, memory.base(), memory.size(), memory.host_base()));
  std::unique_ptr<Arm64Machine> machine(new Arm64Machine(std::move(vm), std::move(memory)));

  const bool host_pmu = machine->vm_.check_extension(KVM_CAP_ARM_PMU_V3) > 0;
  if (config.machine.pmu == true && !host_pmu) {
    return fail(
        ExitCode::kGuestInitializationFailure,
        "machine.pmu = true: this host's KVM has no PMU for guests (no KVM_CAP_ARM_PMU_V3)");
  }
  machine->pmu_ = guest_pmu(config, host_pmu);
  auto gic = TRY(Gic::create(machine->vm_, config.machine.vcpus));
  machine->gic_.emplace(std::move(gic));
  TRY(machine->create_vcpus(config.machine.vcpus));
  TRY(machine->gic_->finalize());
  if (machine->pmu_) {
    for (const auto& vcpu : machine->vcpus_) TRY(vcpu->init_pmu(kPmuIntid));
  }

  spdlog::debug("create: GIC and {} vCPU(s) at {:.1f} ms", config.machine.vcpus,
                elapsed_since_start_ms());
  const KvmVm& vm_ref = machine->vm_;
  auto lines = [&vm_ref](uint32_t spi) { return std::make_unique<KvmInterruptLine>(vm_ref, spi); };
  BoardWiring wiring;
  wiring.lines = lines;
  wiring.edges = [&vm_ref](uint32_t spi) { return KvmEdgeInterrupt::bind(vm_ref, spi); };
  wiring.console_output = [&console](std::span<const uint8_t> bytes) { console.write(bytes); };
  Arm64Machine* self = machine.get();
  // Set before the vCPUs, whose UART accesses call this, start.
  wiring.console_input_ready = [self] {
    if (self->device_threads_) self->device_threads_->console_room_opened();
  };
  wiring.hooks.exit_with_status = [self](uint8_t status) { self->end_by_test_exit(status); };
  wiring.memory = &machine->memory_;
  auto board = TRY(Board::build(config, std::move(wiring)));
  machine->board_ = std::move(board);

  spdlog::debug("create: devices at {:.1f} ms", elapsed_since_start_ms());
  TRY(machine->load_payloads(config, plan));
  spdlog::debug("create: kernel, initrd and device tree loaded at {:.1f} ms",
                elapsed_since_start_ms());
  TRY(machine->connect_devices(config));
  return std::unique_ptr<Machine>(std::move(machine));
}

Result<> Arm64Machine::create_vcpus(uint32_t count) {
  const int max = vm_.check_extension(KVM_CAP_MAX_VCPUS);
  const uint32_t limit = max > 0 ? static_cast<uint32_t>(max) : 4;  // KVM's documented fallback
  if (count > limit) {
    return fail(
        ExitCode::kVcpuStartFailure,
        fmt::format("machine.vcpus = {} exceeds this host's KVM limit of {} vCPUs", count, limit));
  }
  if (gic_->version() == GicVersion::kV2 && count > 8) {
    return fail(
        ExitCode::kVcpuStartFailure,
        fmt::format("machine.vcpus = {}: this host only offers a GICv2, which serves 8 vCPUs",
                    count));
  }
  kvm_vcpu_init target{};
  if (ioctl(vm_.vm_fd(), KVM_ARM_PREFERRED_TARGET, &target) != 0) {
    return fail(ExitCode::kVcpuStartFailure,
                fmt::format("KVM_ARM_PREFERRED_TARGET: {}", strerror(errno)));
  }
  for (uint32_t index = 0; index < count; ++index) {
    auto vcpu = TRY(Vcpu::create(vm_, index, pmu_, target));
    vcpus_.push_back(std::move(vcpu));
  }
  return {};
}

Result<> Arm64Machine::load_payloads(const Config& config, const BootPlan& plan) {
  const BootLayout& layout = plan.layout;
  TRY(load_kernel(config.boot.kernel, memory_, layout.kernel.base, layout.kernel.size));
  if (config.boot.initrd) {
    TRY(load_file(*config.boot.initrd, memory_, layout.initrd->base, layout.initrd->size));
  }
  std::vector<uint64_t> mpidrs;
  for (const auto& vcpu : vcpus_) {
    auto mpidr = TRY(vcpu->mpidr());
    mpidrs.push_back(mpidr);
  }
  auto tree = TRY(board_->device_tree(config, plan, mpidrs, gic_->version(), pmu_));
  if (!memory_.write(layout.device_tree.base, tree)) {
    return fail(ExitCode::kInternalError, "device tree does not fit in guest RAM");
  }
  return vcpus_.front()->set_boot_registers(layout.kernel.base, layout.device_tree.base);
}

Result<> Arm64Machine::connect_devices(const Config& config) {
  device_threads_ = TRY(vmm::DeviceThreads::create(
      [this](Error error) { outcome_.end(std::unexpected(std::move(error))); }));
  if (config.console.mode == ConsoleMode::kStdio) {
    ConsoleUart& uart = board_->console();
    device_threads_->connect_console(std::make_unique<vmm::ConsoleInput>(
        STDIN_FILENO, [&uart] { return uart.input_room(); },
        [&uart](std::span<const uint8_t> bytes) { return uart.receive(bytes); },
        [this] { request_stop(); }));
  }
  return device_threads_->attach(board_->virtio_devices(), [this](const auto& notifier) {
    return vm_.bind_ioeventfd(notifier.fd, notifier.address, notifier.queue);
  });
}

Result<> Arm64Machine::start() {
  pause_gate_ = std::make_unique<PauseGate>(vcpus_.size());
  for (const auto& vcpu : vcpus_) {
    if (auto r = vcpu->start(*this, *pause_gate_); !r) {
      stop_threads();
      return r;
    }
  }
  device_threads_->start();
  return {};
}

// On the writing vCPU's thread. The run ends at once: no vCPU enters the guest again, so
// nothing the guest does after its write (console output, a power-off) races the status.
// Every vCPU is kicked before wait() is woken: wait() then joins them, and a kick must
// not race that.
void Arm64Machine::end_by_test_exit(uint8_t status) {
  for (const auto& vcpu : vcpus_) vcpu->request_stop();
  outcome_.end(GuestExit::test_exit(status));
}

void Arm64Machine::request_stop() { outcome_.end_by_request(); }

bool Arm64Machine::set_power_button(bool pressed) {
  PowerButton* button = board_->power_button();
  if (button == nullptr) return false;
  button->set_pressed(pressed);
  return true;
}

// Every vCPU out of KVM_RUN and parked (or ended), then every device loop: nothing runs on
// the guest's behalf. A stop meanwhile releases the gate, and the pause fails.
Result<> Arm64Machine::pause() {
  pause_gate_->close();
  for (const auto& vcpu : vcpus_) vcpu->kick();
  if (!pause_gate_->wait_parked()) {
    return fail(ExitCode::kControllerForcedHalt, "the guest is stopping");
  }
  device_threads_->pause();
  return {};
}

void Arm64Machine::resume() {
  device_threads_->resume();
  pause_gate_->open();
}

Result<GuestExit> Arm64Machine::wait() {
  Result<GuestExit> outcome = outcome_.wait();
  stop_threads();
  return outcome;
}

// vCPUs first: they use the devices the loops serve.
void Arm64Machine::stop_threads() {
  for (const auto& vcpu : vcpus_) vcpu->request_stop();
  if (pause_gate_) pause_gate_->release();
  for (const auto& vcpu : vcpus_) vcpu->join();
  if (device_threads_) device_threads_->stop();
}

}  // namespace

}  // namespace petrel::arm64

namespace petrel {

Result<std::unique_ptr<Machine>> arch::create_machine(const Config& config, ConsoleSink& console) {
  return arm64::Arm64Machine::create(config, console);
}

}  // namespace petrel

#include "arch/arm64/machine.h"

#include <fmt/format.h>
#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "arch/arm64/board.h"
#include "arch/arm64/gic.h"
#include "arch/arm64/kvm.h"
#include "arch/arm64/vcpu.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/log.h"

namespace petrel::arm64 {

namespace {

constexpr uint8_t kConsoleEscape = 0x01;  // Ctrl-A, then 'x' stops the VM (as QEMU's -nographic)

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
    if (auto r = vm.bind_irqfd(fd.get(), spi); !r) return std::unexpected(r.error());
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

 private:
  Arm64Machine(KvmVm vm, GuestMemory memory) : vm_(std::move(vm)), memory_(std::move(memory)) {}

  Result<> create_vcpus(uint32_t count);
  Result<> load_payloads(const Config& config, const BootPlan& plan);
  Result<> connect_console_input(const Config& config);
  Result<> connect_virtio();
  bool forward_console_input();
  void finish(Result<GuestExit> outcome);
  void end_by_test_exit(uint8_t status);
  void stop_threads();

  bool mmio_read(uint64_t address, std::span<uint8_t> data) override {
    return board_->bus().read(address, data);
  }
  bool mmio_write(uint64_t address, std::span<const uint8_t> data) override {
    return board_->bus().write(address, data);
  }
  void guest_exited(GuestExit how) override { finish(how); }
  void vcpu_failed(Error error) override { finish(std::unexpected(std::move(error))); }

  KvmVm vm_;
  GuestMemory memory_;
  std::optional<Gic> gic_;
  std::unique_ptr<Board> board_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::unique_ptr<EventLoop> device_loop_;
  // Block devices get a loop each, so a slow disk stalls neither the console nor other disks.
  std::vector<std::unique_ptr<EventLoop>> block_loops_;
  bool escape_pending_ = false;

  std::mutex mutex_;
  std::condition_variable finished_;
  std::optional<Result<GuestExit>> outcome_;
};

Result<std::unique_ptr<Machine>> Arm64Machine::create(const Config& config, ConsoleSink& console) {
  auto plan = plan_boot(config);
  if (!plan) return std::unexpected(plan.error());

  const AddressRange ram = ram_range(config);
  auto vm = KvmVm::open(address_bits(ram.end()));
  if (!vm) return std::unexpected(vm.error());
  spdlog::debug("create: KVM VM open at {:.1f} ms", elapsed_since_start_ms());
  // vhost-user backends (virtiofsd) map guest RAM themselves: then it must be a memfd.
  const auto sharing =
      config.shares.empty() ? GuestMemory::Sharing::kPrivate : GuestMemory::Sharing::kShared;
  auto memory = GuestMemory::allocate(ram.base, ram.size, sharing);
  if (!memory) return std::unexpected(memory.error());
  if (auto r = vm->map_memory(0, memory->base(), memory->size(), memory->host_base()); !r) {
    return std::unexpected(r.error());
  }
  std::unique_ptr<Arm64Machine> machine(new Arm64Machine(std::move(*vm), std::move(*memory)));

  auto gic = Gic::create(machine->vm_, config.machine.vcpus);
  if (!gic) return std::unexpected(gic.error());
  machine->gic_.emplace(std::move(*gic));
  if (auto r = machine->create_vcpus(config.machine.vcpus); !r) return std::unexpected(r.error());
  if (auto r = machine->gic_->finalize(); !r) return std::unexpected(r.error());

  spdlog::debug("create: GIC and {} vCPU(s) at {:.1f} ms", config.machine.vcpus,
                elapsed_since_start_ms());
  const KvmVm& vm_ref = machine->vm_;
  auto lines = [&vm_ref](uint32_t spi) { return std::make_unique<KvmInterruptLine>(vm_ref, spi); };
  BoardWiring wiring;
  wiring.lines = lines;
  wiring.edges = [&vm_ref](uint32_t spi) { return KvmEdgeInterrupt::bind(vm_ref, spi); };
  wiring.console_output = [&console](std::span<const uint8_t> bytes) { console.write(bytes); };
  Arm64Machine* self = machine.get();
  wiring.test_exit = [self](uint8_t status) { self->end_by_test_exit(status); };
  wiring.memory = &machine->memory_;
  auto board = Board::build(config, std::move(wiring));
  if (!board) return std::unexpected(board.error());
  machine->board_ = std::move(*board);

  spdlog::debug("create: devices at {:.1f} ms", elapsed_since_start_ms());
  if (auto r = machine->load_payloads(config, *plan); !r) return std::unexpected(r.error());
  spdlog::debug("create: kernel, initrd and device tree loaded at {:.1f} ms",
                elapsed_since_start_ms());
  if (auto r = machine->connect_console_input(config); !r) return std::unexpected(r.error());
  if (auto r = machine->connect_virtio(); !r) return std::unexpected(r.error());
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
    auto vcpu = Vcpu::create(vm_, index, target);
    if (!vcpu) return std::unexpected(vcpu.error());
    vcpus_.push_back(std::move(*vcpu));
  }
  return {};
}

Result<> Arm64Machine::load_payloads(const Config& config, const BootPlan& plan) {
  const BootLayout& layout = plan.layout;
  if (auto r = load_kernel(config.boot.kernel, memory_, layout.kernel.base, layout.kernel.size);
      !r) {
    return std::unexpected(r.error());
  }
  if (config.boot.initrd) {
    if (auto r = load_file(*config.boot.initrd, memory_, layout.initrd->base, layout.initrd->size);
        !r) {
      return std::unexpected(r.error());
    }
  }
  std::vector<uint64_t> mpidrs;
  for (const auto& vcpu : vcpus_) {
    auto mpidr = vcpu->mpidr();
    if (!mpidr) return std::unexpected(mpidr.error());
    mpidrs.push_back(*mpidr);
  }
  auto tree = board_->device_tree(config, plan, mpidrs, gic_->version());
  if (!tree) return std::unexpected(tree.error());
  if (!memory_.write(layout.device_tree.base, *tree)) {
    return fail(ExitCode::kInternalError, "device tree does not fit in guest RAM");
  }
  return vcpus_.front()->set_boot_registers(layout.kernel.base, layout.device_tree.base);
}

Result<> Arm64Machine::connect_console_input(const Config& config) {
  auto loop = EventLoop::create();
  if (!loop) return std::unexpected(loop.error());
  device_loop_ = std::move(*loop);
  if (config.console.mode != ConsoleMode::kStdio) return {};
  if (auto r = device_loop_->add(STDIN_FILENO, [this] { return forward_console_input(); }); !r) {
    // stdin closed, or a file or /dev/null that cannot be polled: the guest gets no input.
    spdlog::debug("console input not connected: {}", r.error().message);
  }
  return {};
}

Result<> Arm64Machine::connect_virtio() {
  for (const auto& transport : board_->virtio_devices()) {
    for (const auto& notifier : transport->notifiers()) {
      if (auto r = vm_.bind_ioeventfd(notifier.fd, notifier.address, notifier.queue); !r) return r;
    }
    EventLoop* loop = device_loop_.get();
    if (transport->device_type() == virtio::kDeviceBlock) {
      auto own = EventLoop::create();
      if (!own) return std::unexpected(own.error());
      block_loops_.push_back(std::move(*own));
      loop = block_loops_.back().get();
    }
    if (auto r = transport->attach(*loop); !r) return r;
  }
  return {};
}

bool Arm64Machine::forward_console_input() {
  uint8_t buffer[256];
  const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof(buffer));
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;  // end of input
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(got));
  for (ssize_t i = 0; i < got; ++i) {
    const uint8_t byte = buffer[i];
    if (escape_pending_) {
      escape_pending_ = false;
      if (byte == 'x' || byte == 'X') {
        spdlog::info("console escape: stopping the VM");
        request_stop();
        return false;
      }
      if (byte != kConsoleEscape) bytes.push_back(kConsoleEscape);
      bytes.push_back(byte);
    } else if (byte == kConsoleEscape && isatty(STDIN_FILENO)) {
      escape_pending_ = true;
    } else {
      bytes.push_back(byte);
    }
  }
  board_->console().receive(bytes);
  return true;
}

Result<> Arm64Machine::start() {
  for (const auto& vcpu : vcpus_) {
    if (auto r = vcpu->start(*this); !r) {
      stop_threads();
      return r;
    }
  }
  device_loop_->start();
  for (const auto& loop : block_loops_) loop->start();
  return {};
}

void Arm64Machine::finish(Result<GuestExit> outcome) {
  std::lock_guard lock(mutex_);
  if (!outcome_) outcome_ = std::move(outcome);
  finished_.notify_all();
}

// On the writing vCPU's thread. The run ends at once: no vCPU enters the guest again, so
// nothing the guest does after its write (console output, a power-off) races the status.
void Arm64Machine::end_by_test_exit(uint8_t status) {
  finish(GuestExit::test_exit(status));
  for (const auto& vcpu : vcpus_) vcpu->request_stop();
}

void Arm64Machine::request_stop() {
  finish(fail(ExitCode::kControllerForcedHalt, "the VM was stopped"));
}

Result<GuestExit> Arm64Machine::wait() {
  {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [this] { return outcome_.has_value(); });
  }
  stop_threads();
  std::lock_guard lock(mutex_);
  return *outcome_;
}

void Arm64Machine::stop_threads() {
  for (const auto& vcpu : vcpus_) vcpu->request_stop();
  for (const auto& vcpu : vcpus_) vcpu->join();
  if (device_loop_) device_loop_->stop();
  for (const auto& loop : block_loops_) loop->stop();
}

}  // namespace

Result<std::unique_ptr<Machine>> create_machine(const Config& config, ConsoleSink& console) {
  return Arm64Machine::create(config, console);
}

}  // namespace petrel::arm64

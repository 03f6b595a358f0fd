#include "arch/arm64/board.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "devices/pl031.h"
#include "devices/test_exit.h"
#include "devices/virtio_block.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"

namespace petrel::arm64 {

AddressRange ram_range(const Config& config) { return {kRamBase, config.machine.memory_bytes}; }

Result<BootPlan> plan_boot(const Config& config, KernelCheck check) {
  auto kernel = inspect_kernel(config.boot.kernel);
  if (!kernel) return std::unexpected(kernel.error());
  std::optional<uint64_t> initrd_size;
  if (config.boot.initrd) {
    struct stat info {};
    if (stat(config.boot.initrd->c_str(), &info) != 0) {
      return fail(ExitCode::kKernelLoadFailure,
                  fmt::format("{}: {}", config.boot.initrd->string(), strerror(errno)));
    }
    initrd_size = static_cast<uint64_t>(info.st_size);
  }
  auto layout =
      plan_boot_layout(ram_range(config), kernel->text_offset, kernel->image_size, initrd_size);
  if (!layout) return std::unexpected(layout.error());
  // Decompressed whole only once its header's image_size is known to fit in RAM: that
  // bounds the work a hostile Image.gz can cause.
  if (check == KernelCheck::kWhole && kernel->compressed) {
    kernel = inspect_kernel(config.boot.kernel, KernelCheck::kWhole);
    if (!kernel) return std::unexpected(kernel.error());
  }
  return BootPlan{*kernel, *layout};
}

InterruptLine& Board::own(std::unique_ptr<InterruptLine> line) {
  lines_.push_back(std::move(line));
  return *lines_.back();
}

namespace {

// Stands in for a virtio device when the board is only described: the transport's node
// needs no backend.
class DescribedOnly final : public virtio::VirtioDevice {
 public:
  explicit DescribedOnly(uint32_t type) : type_(type) {}
  uint32_t device_type() const override { return type_; }
  std::string_view name() const override { return "virtio (described only)"; }
  uint64_t features() const override { return 0; }
  size_t queue_count() const override { return 0; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    virtio::read_config_bytes({}, offset, data);
  }
  void serve(size_t, virtio::QueueAccess&) override {}

 private:
  uint32_t type_;
};

// The guest's name for the n-th virtio disk: vda .. vdz, vdaa, ...
std::string disk_name(size_t index) {
  std::string suffix;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) {
    suffix.insert(suffix.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "vd" + suffix;
}

// A locally administered unicast MAC that stays the same for a guest name and interface
// across boots (so DHCP leases and neighbour caches hold), from an FNV-1a hash.
virtio::NetDevice::Mac default_mac(std::string_view name, size_t index) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&hash](uint8_t byte) { hash = (hash ^ byte) * 0x100000001b3ull; };
  for (const char c : name) mix(static_cast<uint8_t>(c));
  mix(static_cast<uint8_t>(index));
  return {0x02,
          static_cast<uint8_t>(hash >> 32),
          static_cast<uint8_t>(hash >> 24),
          static_cast<uint8_t>(hash >> 16),
          static_cast<uint8_t>(hash >> 8),
          static_cast<uint8_t>(hash)};
}

// The virtio devices a config asks for, in the order they get transports (and so guest
// names): drives first, in config order, so the first drive is vda; then networks, rng,
// shares. Without `memory` the devices are only described.
Result<std::vector<std::unique_ptr<virtio::VirtioDevice>>> make_virtio_devices(
    const Config& config, const GuestMemory* memory) {
  const bool describe_only = memory == nullptr;
  std::vector<std::unique_ptr<virtio::VirtioDevice>> devices;
  for (size_t i = 0; i < config.drives.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceBlock));
      continue;
    }
    auto drive = virtio::BlockDevice::open(config.drives[i], disk_name(i));
    if (!drive) return std::unexpected(drive.error());
    devices.push_back(std::move(*drive));
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceNet));
      continue;
    }
    const Config::Net& net = config.nets[i];
    auto device = virtio::NetDevice::open(net.tap, net.mac.value_or(default_mac(config.name, i)));
    if (!device) return std::unexpected(device.error());
    devices.push_back(std::move(*device));
  }
  if (config.rng.enabled) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceEntropy));
    } else {
      devices.push_back(std::make_unique<virtio::EntropyDevice>());
    }
  }
  for (size_t i = 0; i < config.shares.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceFilesystem));
      continue;
    }
    auto share = virtio::FsDevice::open(config.shares[i], i, *memory);
    if (!share) return std::unexpected(share.error());
    devices.push_back(std::move(*share));
  }
  return devices;
}

}  // namespace

Result<std::unique_ptr<Board>> Board::build(const Config& config, BoardWiring wiring) {
  const auto& lines = wiring.lines;
  std::unique_ptr<Board> board(new Board());
  board->bus_.reserve({kGicDistributorBase, kGicDistributorSize}, "GIC distributor");
  board->bus_.reserve(gic_redistributor_range(config.machine.vcpus), "GIC redistributors");
  board->bus_.reserve(ram_range(config), "RAM");

  board->console_ = std::make_shared<Uart16550>(kUartBase, kUartSpi, board->own(lines(kUartSpi)),
                                                std::move(wiring.console_output));
  if (auto r = board->bus_.add(board->console_); !r) return std::unexpected(r.error());
  auto rtc = std::make_shared<Pl031>(kRtcBase, kRtcSpi, board->own(lines(kRtcSpi)));
  if (auto r = board->bus_.add(std::move(rtc)); !r) return std::unexpected(r.error());
  if (config.test_exit.enabled) {
    auto test_exit = std::make_shared<TestExit>(kTestExitBase, std::move(wiring.test_exit));
    if (auto r = board->bus_.add(std::move(test_exit)); !r) return std::unexpected(r.error());
  }

  auto devices = make_virtio_devices(config, wiring.memory);
  if (!devices) return std::unexpected(devices.error());
  if (devices->size() > kVirtioMaxDevices) {
    return fail(ExitCode::kBadConfig,
                fmt::format("{} virtio devices configured; petrel has room for {}", devices->size(),
                            kVirtioMaxDevices));
  }
  for (size_t i = 0; i < devices->size(); ++i) {
    const uint64_t base = kVirtioBase + i * kVirtioStride;
    const auto spi = static_cast<uint32_t>(kVirtioFirstSpi + i);
    std::unique_ptr<EdgeInterrupt> interrupt;
    if (wiring.edges) {
      auto edge = wiring.edges(spi);
      if (!edge) return std::unexpected(edge.error());
      interrupt = std::move(*edge);
    }
    auto transport = virtio::MmioTransport::create(base, spi, std::move((*devices)[i]),
                                                   wiring.memory, std::move(interrupt));
    if (!transport) return std::unexpected(transport.error());
    if (auto r = board->bus_.add(*transport); !r) return std::unexpected(r.error());
    board->virtio_.push_back(std::move(*transport));
  }
  return board;
}

Result<std::vector<uint8_t>> Board::device_tree(const Config& config, const BootPlan& plan,
                                                std::span<const uint64_t> mpidrs,
                                                GicVersion gic) const {
  FdtDescription description;
  description.vcpu_mpidrs = mpidrs;
  description.ram = ram_range(config);
  description.cmdline = config.boot.cmdline;
  description.initrd = plan.layout.initrd;
  description.gic = gic;
  description.devices = bus_.devices();
  description.console = console_.get();
  return build_device_tree(description);
}

}  // namespace petrel::arm64

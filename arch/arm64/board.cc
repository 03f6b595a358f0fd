#include "arch/arm64/board.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/uart16550.h"
#include "vmm/devices.h"

namespace petrel::arm64 {

AddressRange ram_range(const Config& config) { return {kRamBase, config.machine.memory_bytes}; }

Result<BootPlan> plan_boot(const Config& config, KernelCheck check) {
  auto kernel = TRY(inspect_kernel(config.boot.kernel));
  std::optional<uint64_t> initrd_size;
  if (config.boot.initrd) {
    struct stat info {};
    if (stat(config.boot.initrd->c_str(), &info) != 0) {
      return fail(ExitCode::kKernelLoadFailure,
                  fmt::format("{}: {}", config.boot.initrd->string(), strerror(errno)));
    }
    initrd_size = static_cast<uint64_t>(info.st_size);
  }
  const BootLayout layout =
      TRY(plan_boot_layout(ram_range(config), kernel.text_offset, kernel.image_size, initrd_size));
  // Decompressed whole only once its header's image_size is known to fit in RAM: that
  // bounds the work a hostile Image.gz can cause.
  if (check == KernelCheck::kWhole && kernel.compressed) {
    kernel = TRY(inspect_kernel(config.boot.kernel, KernelCheck::kWhole));
  }
  return BootPlan{kernel, layout};
}

InterruptLine& Board::own(std::unique_ptr<InterruptLine> line) {
  lines_.push_back(std::move(line));
  return *lines_.back();
}

Result<std::unique_ptr<Board>> Board::build(const Config& config, BoardWiring wiring) {
  const auto& lines = wiring.lines;
  std::unique_ptr<Board> board(new Board());
  board->bus_.reserve({kGicDistributorBase, kGicDistributorSize}, "GIC distributor");
  board->bus_.reserve(gic_redistributor_range(config.machine.vcpus), "GIC redistributors");
  board->bus_.reserve(ram_range(config), "RAM");

  if (config.console.uart == ConsoleUartKind::kPl011) {
    board->console_ = std::make_shared<Pl011>(kPl011Base, kPl011Spi, board->own(lines(kPl011Spi)),
                                              std::move(wiring.console_output),
                                              std::move(wiring.console_input_ready));
  } else {
    board->console_ = std::make_shared<Uart16550>(
        kUart16550Base, kUart16550Spi, board->own(lines(kUart16550Spi)),
        std::move(wiring.console_output), std::move(wiring.console_input_ready));
  }
  TRY(board->bus_.add(board->console_));
  auto rtc = std::make_shared<Pl031>(kRtcBase, kRtcSpi, board->own(lines(kRtcSpi)));
  TRY(board->bus_.add(std::move(rtc)));
  auto place = [](std::string_view table) -> std::optional<vmm::PlatformWindow> {
    const std::optional<uint64_t> base = platform_device_base(table);
    if (!base) return std::nullopt;
    return vmm::PlatformWindow{*base, platform_device_spi(table)};
  };
  auto line = [&](uint32_t spi) -> InterruptLine& { return board->own(lines(spi)); };
  auto platform = TRY(vmm::make_platform_devices(config, place, line, wiring.hooks));
  for (auto& device : platform) {
    // The machine presses the first power button there is (there is one kind of them).
    if (auto* button = dynamic_cast<PowerButton*>(device.get()); button && !board->power_button_) {
      board->power_button_ = std::shared_ptr<PowerButton>(device, button);
    }
    TRY(board->bus_.add(std::move(device)));
  }

  auto devices = TRY(vmm::make_virtio_devices(config, wiring.memory, wiring.hooks));
  if (devices.size() > kVirtioMaxDevices) {
    return fail(ExitCode::kBadConfig,
                fmt::format("{} virtio devices configured; petrel has room for {}", devices.size(),
                            kVirtioMaxDevices));
  }
  for (size_t i = 0; i < devices.size(); ++i) {
    const uint64_t base = kVirtioBase + i * kVirtioStride;
    const auto spi = static_cast<uint32_t>(kVirtioFirstSpi + i);
    std::unique_ptr<EdgeInterrupt> interrupt;
    if (wiring.edges) {
      auto edge = TRY(wiring.edges(spi));
      interrupt = std::move(edge);
    }
    auto transport = TRY(virtio::MmioTransport::create(base, spi, std::move(devices[i]),
                                                       wiring.memory, std::move(interrupt)));
    TRY(board->bus_.add(transport));
    board->virtio_.push_back(std::move(transport));
  }
  return board;
}

Result<std::vector<uint8_t>> Board::device_tree(const Config& config, const BootPlan& plan,
                                                std::span<const uint64_t> mpidrs, GicVersion gic,
                                                bool pmu) const {
  FdtDescription description;
  description.vcpu_mpidrs = mpidrs;
  description.ram = ram_range(config);
  description.cmdline = config.boot.cmdline;
  description.initrd = plan.layout.initrd;
  description.gic = gic;
  description.pmu = pmu;
  description.devices = bus_.devices();
  description.console = console_.get();
  return build_device_tree(description);
}

}  // namespace petrel::arm64

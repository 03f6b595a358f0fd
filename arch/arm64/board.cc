#include "arch/arm64/board.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "devices/pl031.h"

namespace petrel::arm64 {

AddressRange ram_range(const Config& config) { return {kRamBase, config.machine.memory_bytes}; }

Result<BootPlan> plan_boot(const Config& config) {
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
  auto layout = plan_boot_layout(ram_range(config), kernel->text_offset, kernel->image_size, initrd_size);
  if (!layout) return std::unexpected(layout.error());
  return BootPlan{*kernel, *layout};
}

InterruptLine& Board::own(std::unique_ptr<InterruptLine> line) {
  lines_.push_back(std::move(line));
  return *lines_.back();
}

Result<std::unique_ptr<Board>> Board::build(const Config& config, const InterruptLineFactory& lines,
                                            Uart16550::Output console_output) {
  std::unique_ptr<Board> board(new Board());
  board->bus_.reserve({kGicDistributorBase, kGicDistributorSize}, "GIC distributor");
  board->bus_.reserve(gic_redistributor_range(config.machine.vcpus), "GIC redistributors");
  board->bus_.reserve(ram_range(config), "RAM");

  board->console_ = std::make_shared<Uart16550>(kUartBase, kUartSpi, board->own(lines(kUartSpi)),
                                                std::move(console_output));
  if (auto r = board->bus_.add(board->console_); !r) return std::unexpected(r.error());
  auto rtc = std::make_shared<Pl031>(kRtcBase, kRtcSpi, board->own(lines(kRtcSpi)));
  if (auto r = board->bus_.add(std::move(rtc)); !r) return std::unexpected(r.error());
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

#include "vmm/device_threads.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio_device.h"

namespace petrel::vmm {

Result<std::unique_ptr<DeviceThreads>> DeviceThreads::create(EventLoop::FailureHandler on_failure) {
  auto shared = TRY(EventLoop::create("the console and device loop", on_failure));
  return std::unique_ptr<DeviceThreads>(
      new DeviceThreads(std::move(on_failure), std::move(shared)));
}

void DeviceThreads::connect_console(std::unique_ptr<ConsoleInput> input) {
  console_ = std::move(input);
  ConsoleInput* console = console_.get();
  if (auto r = shared_loop_->add(console->fd(), [console] { return console->forward(); }); !r) {
    spdlog::debug("console input not connected: {}", r.error().message);
  }
}

Result<> DeviceThreads::attach(std::span<const std::shared_ptr<virtio::MmioTransport>> transports,
                               const BindNotifier& bind) {
  for (const auto& transport : transports) {
    for (const auto& notifier : transport->notifiers()) TRY(bind(notifier));
    EventLoop* loop = shared_loop_.get();
    // A disk, and a device whose loop waits on another process's answers, get a loop of
    // their own.
    if (transport->device_type() == virtio::kDeviceBlock || transport->waits_on_backend()) {
      own_loops_.push_back(
          TRY(EventLoop::create(fmt::format("the loop of {}", transport->name()), on_failure_)));
      loop = own_loops_.back().get();
    }
    TRY(transport->attach(*loop));
  }
  return {};
}

void DeviceThreads::start() {
  shared_loop_->start();
  for (const auto& loop : own_loops_) loop->start();
}

void DeviceThreads::stop() {
  shared_loop_->stop();
  for (const auto& loop : own_loops_) loop->stop();
}

}  // namespace petrel::vmm

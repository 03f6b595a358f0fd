#include "vmm/device_threads.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "devices/virtio_device.h"

namespace petrel::vmm {

Result<std::unique_ptr<DeviceThreads>> DeviceThreads::create(EventLoop::FailureHandler on_failure) {
  auto shared = TRY(EventLoop::create("the console and device loop", on_failure));
  return std::unique_ptr<DeviceThreads>(
      new DeviceThreads(std::move(on_failure), std::move(shared)));
}

void DeviceThreads::connect_console(std::unique_ptr<ConsoleInput> input) {
  UniqueFd room(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!room) {
    spdlog::warn("console input not connected: eventfd: {}", strerror(errno));
    return;
  }
  console_ = std::move(input);
  ConsoleInput* console = console_.get();
  EventLoop* loop = shared_loop_.get();
  const int fd = console->fd();
  // The fd is watched one read at a time, and only while the UART has room: the room
  // eventfd, which the UART's InputReady signals, watches it again.
  auto after = [loop, fd](ConsoleInput::Next next) {
    if (next == ConsoleInput::Next::kRead) loop->rearm(fd);
    return next != ConsoleInput::Next::kStop;
  };
  if (auto r = shared_loop_->add(
          fd, [console, after] { return after(console->on_readable()); },
          EventLoop::Trigger::kOneShot);
      !r) {
    spdlog::debug("console input not connected: {}", r.error().message);
    return;
  }
  const int room_fd = room.get();
  auto woken = shared_loop_->add(room_fd, [console, after, room_fd] {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t drained = ::read(room_fd, &count, sizeof(count));
    after(console->on_room());
    return true;  // once the console's fd is unwatched, rearm() does nothing
  });
  if (!woken) {
    spdlog::warn("console input: {}", woken.error().message);
    return;
  }
  console_room_ = std::move(room);
}

void DeviceThreads::console_room_opened() {
  if (console_room_) signal_eventfd(console_room_.get());
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

void DeviceThreads::pause() {
  shared_loop_->pause();
  for (const auto& loop : own_loops_) loop->pause();
}

void DeviceThreads::resume() {
  shared_loop_->resume();
  for (const auto& loop : own_loops_) loop->resume();
}

void DeviceThreads::stop() {
  shared_loop_->stop();
  for (const auto& loop : own_loops_) loop->stop();
}

}  // namespace petrel::vmm

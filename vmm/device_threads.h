#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/event_loop.h"
#include "core/unique_fd.h"
#include "devices/virtio_mmio.h"
#include "vmm/console_input.h"

namespace petrel::vmm {

// The threads that serve devices off the vCPUs: one loop for console input and the
// virtio devices, and a loop of its own for each disk and each vhost-user device, so a slow
// disk or backend stalls neither the console nor another device. A loop that fails ends the run
// through `on_failure`.
class DeviceThreads {
 public:
  // How a guest's queue notification reaches a transport's eventfd without a vCPU exit
  // (on KVM: an ioeventfd).
  using BindNotifier = std::function<Result<>(const virtio::MmioTransport::Notifier&)>;

  static Result<std::unique_ptr<DeviceThreads>> create(EventLoop::FailureHandler on_failure);
  ~DeviceThreads() { stop(); }

  // Before start(): console input, read from its fd on the shared loop while the UART has
  // room. An fd that cannot be watched (closed, /dev/null, a regular file) gives the guest
  // no input.
  void connect_console(std::unique_ptr<ConsoleInput> input);
  // The console UART has room again (its InputReady): wakes the loop to pass input on.
  // From any thread, cheap (one eventfd write); nothing without a connected console.
  void console_room_opened();
  // Before start(): every transport's notifications bound and its device on a loop.
  Result<> attach(std::span<const std::shared_ptr<virtio::MmioTransport>> transports,
                  const BindNotifier& bind);

  void start();
  // Wakes and joins every loop; idempotent, and ends a pause.
  void stop();
  // Pausing the guest: returns once no loop serves a device or console input (a request
  // being served is finished first); resume() lets them go on with what arrived meanwhile.
  void pause();
  void resume();

 private:
  DeviceThreads(EventLoop::FailureHandler on_failure, std::unique_ptr<EventLoop> shared)
      : on_failure_(std::move(on_failure)), shared_loop_(std::move(shared)) {}

  EventLoop::FailureHandler on_failure_;
  std::unique_ptr<ConsoleInput> console_;  // the loops, which call it, are destroyed first
  UniqueFd console_room_;                  // an eventfd: console_room_opened() was called
  std::unique_ptr<EventLoop> shared_loop_;
  std::vector<std::unique_ptr<EventLoop>> own_loops_;
};

}  // namespace petrel::vmm

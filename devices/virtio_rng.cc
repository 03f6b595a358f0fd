#include "devices/virtio_rng.h"

#include <sys/random.h>

#include <cerrno>

namespace petrel::virtio {

namespace {
// A guest asks for a few dozen bytes at a time; the cap bounds the time one request takes.
constexpr size_t kMaxBytesPerRequest = 64 * 1024;

Result<std::unique_ptr<VirtioDevice>> make_rng(const DeviceSetup&) {
  return std::make_unique<EntropyDevice>();
}

constexpr DeviceKey kRngKeys[] = {{"enabled", "boolean, default true"}};

}  // namespace

constexpr DeviceType kRngType = {
    .config = {.table = "rng",
               .keys = kRngKeys,
               .flag = {.form = DeviceFlag::Form::kSwitch,
                        .name = "rng",
                        .help = "virtio entropy device ([rng])"},
               .read = read_enabled_table},
    .virtio_id = kDeviceEntropy,
    .make_virtio = make_rng,
};

void EntropyDevice::serve(size_t queue, QueueAccess& queues) {
  while (auto chain = queues.pop(queue)) {
    size_t filled = 0;
    for (std::span<uint8_t> buffer : chain->writable) {
      while (!buffer.empty() && filled < kMaxBytesPerRequest) {
        const size_t want = std::min(buffer.size(), kMaxBytesPerRequest - filled);
        const ssize_t got = getrandom(buffer.data(), want, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        buffer = buffer.subspan(static_cast<size_t>(got));
        filled += static_cast<size_t>(got);
      }
    }
    queues.push_used(queue, chain->head, static_cast<uint32_t>(filled));
  }
}

}  // namespace petrel::virtio

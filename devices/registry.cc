#include "devices/registry.h"

#include <array>
#include <vector>

#include "devices/pl061.h"
#include "devices/test_exit.h"
#include "devices/virtio_block.h"
#include "devices/virtio_console.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"

namespace petrel {

namespace {

// One line per device kind. The order is the guest's: it numbers virtio transports.
constexpr std::array kTypes = {
    &virtio::kDriveType,  // [[drive]]
    &virtio::kNetType,    // [[net]]
    &virtio::kRngType,    // [rng]
    &virtio::kShareType,  // [[share]]
    &virtio::kPortType,   // [[port]]: one virtio-console for all
    &kTestExitType,       // [test_exit]
    &kPowerButtonType,    // [power_button]
};

}  // namespace

std::span<const DeviceType* const> device_types() { return kTypes; }

DeviceKinds device_kinds() {
  static const std::vector<const DeviceConfigKind*> kinds = [] {
    std::vector<const DeviceConfigKind*> configs;
    for (const DeviceType* type : kTypes) configs.push_back(&type->config);
    return configs;
  }();
  return kinds;
}

const DeviceType* device_type(const DeviceConfigKind* kind) {
  for (const DeviceType* type : kTypes) {
    if (&type->config == kind) return type;
  }
  return nullptr;
}

}  // namespace petrel

#pragma once

#include <span>

#include "core/device_config.h"
#include "devices/device_type.h"

namespace petrel {

// Every device kind petrel has, one registration each (devices/registry.cc), in the order
// their tables are listed and their devices made: virtio transports go to drives first (so
// the first drive is vda), then nets, rng, shares.
std::span<const DeviceType* const> device_types();

// The config side of each, for the config loader.
DeviceKinds device_kinds();

// The registered type whose config side is `kind`, or null.
const DeviceType* device_type(const DeviceConfigKind* kind);

}  // namespace petrel

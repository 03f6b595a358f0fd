#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace petrel {

// Everything a guest reads or writes is little-endian (arm64 guests, virtio 1.x, register
// accesses): the one way to read and write such values, whatever the host's byte order.
// Callers check that [offset, offset + sizeof(T)) lies in `bytes`.
template <std::unsigned_integral T>
T load_le(std::span<const uint8_t> bytes, size_t offset = 0) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(bytes[offset + i]) << (8 * i);
  return value;
}

template <std::unsigned_integral T>
void store_le(std::span<uint8_t> bytes, size_t offset, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

// A register access of any width (1 to 8 bytes) as a value, and back: wider accesses read
// the low 8 bytes and write zeros above them.
inline uint64_t load_le_any(std::span<const uint8_t> bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size() && i < sizeof(value); ++i) {
    value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  }
  return value;
}

inline void store_le_any(std::span<uint8_t> bytes, uint64_t value) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = i < sizeof(value) ? static_cast<uint8_t>(value >> (8 * i)) : 0;
  }
}

}  // namespace petrel

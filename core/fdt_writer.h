#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace petrel {

// Builds a flattened device tree with libfdt's sequential-write API. The first libfdt
// error sticks and is reported by finish(), so callers can describe nodes without
// checking every property.
class FdtWriter {
 public:
  FdtWriter();

  void begin_node(std::string_view name);
  void end_node();

  void property(std::string_view name, std::span<const uint8_t> bytes);
  void property_empty(std::string_view name);
  void property_u32(std::string_view name, uint32_t value);
  void property_u64(std::string_view name, uint64_t value);
  void property_cells(std::string_view name, std::initializer_list<uint32_t> cells);
  void property_cells(std::string_view name, std::span<const uint32_t> cells);
  void property_string(std::string_view name, std::string_view value);
  // A string list such as compatible = "arm,pl031", "arm,primecell".
  void property_strings(std::string_view name, std::initializer_list<std::string_view> values);
  void property_strings(std::string_view name, std::span<const std::string_view> values);
  // reg = <base size> with #address-cells = #size-cells = 2.
  void property_reg(uint64_t base, uint64_t size);

  uint32_t allocate_phandle() { return next_phandle_++; }

  // Completes the tree and returns its bytes, or the first error met while building.
  Result<std::vector<uint8_t>> finish();

 private:
  void check(int status, std::string_view what);
  void* blob() { return buffer_.data(); }

  std::vector<uint8_t> buffer_;
  int error_ = 0;
  std::string error_context_;
  uint32_t next_phandle_ = 1;
};

}  // namespace petrel

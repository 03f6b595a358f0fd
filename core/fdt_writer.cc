#include "core/fdt_writer.h"

#include <fmt/format.h>
#include <libfdt.h>

namespace petrel {

namespace {
// Generous for a microVM (a typical tree is ~2 KiB) and well under the 2 MiB the arm64
// booting rules allow.
constexpr size_t kFdtBufferBytes = 64 * 1024;
}  // namespace

FdtWriter::FdtWriter() : buffer_(kFdtBufferBytes) {
  check(fdt_create(blob(), static_cast<int>(buffer_.size())), "create");
  check(fdt_finish_reservemap(blob()), "reserve map");
}

void FdtWriter::check(int status, std::string_view what) {
  if (status < 0 && error_ == 0) {
    error_ = status;
    error_context_ = what;
  }
}

void FdtWriter::begin_node(std::string_view name) {
  check(fdt_begin_node(blob(), std::string(name).c_str()), name);
}

void FdtWriter::end_node() { check(fdt_end_node(blob()), "end node"); }

void FdtWriter::property(std::string_view name, std::span<const uint8_t> bytes) {
  check(
      fdt_property(blob(), std::string(name).c_str(), bytes.data(), static_cast<int>(bytes.size())),
      name);
}

void FdtWriter::property_empty(std::string_view name) {
  check(fdt_property(blob(), std::string(name).c_str(), nullptr, 0), name);
}

void FdtWriter::property_u32(std::string_view name, uint32_t value) {
  check(fdt_property_u32(blob(), std::string(name).c_str(), value), name);
}

void FdtWriter::property_u64(std::string_view name, uint64_t value) {
  check(fdt_property_u64(blob(), std::string(name).c_str(), value), name);
}

void FdtWriter::property_cells(std::string_view name, std::initializer_list<uint32_t> cells) {
  property_cells(name, std::span<const uint32_t>(cells.begin(), cells.size()));
}

void FdtWriter::property_cells(std::string_view name, std::span<const uint32_t> cells) {
  std::vector<fdt32_t> big_endian;
  big_endian.reserve(cells.size());
  for (uint32_t cell : cells) big_endian.push_back(cpu_to_fdt32(cell));
  check(fdt_property(blob(), std::string(name).c_str(), big_endian.data(),
                     static_cast<int>(big_endian.size() * sizeof(fdt32_t))),
        name);
}

void FdtWriter::property_string(std::string_view name, std::string_view value) {
  check(fdt_property_string(blob(), std::string(name).c_str(), std::string(value).c_str()), name);
}

void FdtWriter::property_strings(std::string_view name,
                                 std::initializer_list<std::string_view> values) {
  property_strings(name, std::span<const std::string_view>(values.begin(), values.size()));
}

void FdtWriter::property_strings(std::string_view name, std::span<const std::string_view> values) {
  std::string joined;
  for (std::string_view value : values) {
    joined.append(value);
    joined.push_back('\0');
  }
  check(fdt_property(blob(), std::string(name).c_str(), joined.data(),
                     static_cast<int>(joined.size())),
        name);
}

void FdtWriter::property_reg(uint64_t base, uint64_t size) {
  property_cells("reg", {static_cast<uint32_t>(base >> 32), static_cast<uint32_t>(base),
                         static_cast<uint32_t>(size >> 32), static_cast<uint32_t>(size)});
}

Result<std::vector<uint8_t>> FdtWriter::finish() {
  check(fdt_finish(blob()), "finish");
  if (error_ != 0) {
    return fail(ExitCode::kInternalError,
                fmt::format("device tree: {} at '{}'", fdt_strerror(error_), error_context_));
  }
  buffer_.resize(fdt_totalsize(blob()));
  return std::move(buffer_);
}

}  // namespace petrel

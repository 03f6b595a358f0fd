#include "core/config_section.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"

namespace petrel::config_detail {

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else {
      out += c == '\n' ? std::string("\\n") : fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

std::string quote_value(std::string_view text) {
  constexpr size_t kShown = 64;
  if (text.size() <= kShown) return fmt::format("\"{}\"", printable(text));
  return fmt::format("\"{}\"...", printable(text.substr(0, kShown)));
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string position(std::string_view file, const toml::source_region& region) {
  if (from_command_line(region)) return printable(*region.path);
  if (region.path == nullptr && region.begin.line == 0) return std::string(file);
  return fmt::format("{}:{}:{}", file, std::max<toml::source_index>(region.begin.line, 1),
                     std::max<toml::source_index>(region.begin.column, 1));
}

std::unexpected<Error> bad_config(std::string_view file, const toml::source_region& region,
                                  std::string_view key, std::string_view message) {
  return fail(ExitCode::kBadConfig,
              fmt::format("{}: {}: {}", position(file, region), key, message));
}

std::string Section::name(std::string_view key) const {
  return path_.empty() ? printable(key) : fmt::format("{}.{}", path_, printable(key));
}

std::unexpected<Error> Section::wrong_type(std::string_view key, std::string_view expected) const {
  return bad(key, fmt::format("expected {}, got {}", expected, type_name(*find(key))));
}

std::unexpected<Error> Section::missing(std::string_view key, std::string_view what) const {
  return bad_config(*file_, table_->source(), name(key), fmt::format("missing required {}", what));
}

Result<std::optional<Section>> Section::section(std::string_view key, bool required) const {
  const toml::node* node = find(key);
  if (node == nullptr) {
    if (required) return missing(key, fmt::format("table [{}]", name(key)));
    return std::nullopt;
  }
  if (!node->is_table()) return wrong_type(key, "a table");
  return Section(*file_, *node->as_table(), name(key));
}

Result<std::vector<Section>> Section::sections(std::string_view key) const {
  const toml::node* node = find(key);
  if (node == nullptr) return std::vector<Section>{};
  if (!node->is_array()) {
    return wrong_type(key, fmt::format("an array of tables ([[{}]])", name(key)));
  }
  std::vector<Section> tables;
  for (const toml::node& element : *node->as_array()) {
    const std::string path = fmt::format("{}[{}]", name(key), tables.size());
    // An inline array such as `drive = [{ path = "a" }, 7]`.
    if (!element.is_table()) {
      return bad_config(*file_, element.source(), path,
                        fmt::format("expected a table, got {}", type_name(element)));
    }
    tables.emplace_back(*file_, *element.as_table(), path);
  }
  return tables;
}

Result<std::optional<std::filesystem::path>> read_path(const Section& section, std::string_view key,
                                                       const std::filesystem::path& source) {
  auto text = TRY(section.string(key));
  if (!text) return std::nullopt;
  if ((text)->empty()) return section.bad(key, "empty path");
  // The kernel's open() would stop at the NUL and read some other file.
  if ((text)->find('\0') != std::string::npos) {
    return section.bad(key, fmt::format("{} contains a NUL character", quote_value(*text)));
  }
  std::error_code error;
  const std::filesystem::path anchor = from_command_line(section.find(key)->source())
                                           ? std::filesystem::path()
                                           : source.parent_path();
  const std::filesystem::path path = std::filesystem::absolute(anchor / *text, error);
  if (error) return section.bad(key, fmt::format("{}: {}", quote_value(*text), error.message()));
  return path.lexically_normal();
}

std::optional<std::string> unusable_file(const std::filesystem::path& path, int open_flags,
                                         bool block_devices) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error) return error.message();
  if (block_devices) {
    if (!std::filesystem::is_regular_file(status) && !std::filesystem::is_block_file(status)) {
      return "not a regular file or block device";
    }
  } else if (!std::filesystem::is_regular_file(status)) {
    return "not a regular file";
  }
  const UniqueFd fd(::open(path.c_str(), open_flags | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return std::strerror(errno);
  return std::nullopt;
}

void find_unknown_keys(const toml::table& table, std::string_view path,
                       std::span<const std::string_view> known, std::optional<UnknownKey>& first) {
  for (const auto& [key, node] : table) {
    if (std::ranges::find(known, key.str()) != known.end()) continue;
    if (first && !(key.source().begin < first->where.begin)) continue;
    const std::string shown = printable(key.str());
    // [[key]] is a table too, to whoever wrote it.
    first = UnknownKey{path.empty() ? shown : fmt::format("{}.{}", path, shown), key.source(),
                       node.is_table() || node.is_array_of_tables(),
                       std::vector<std::string_view>(known.begin(), known.end())};
  }
}

}  // namespace petrel::config_detail

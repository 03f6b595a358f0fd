// Command-line keys (`--set machine.vcpus=4`, `--kernel Image`) applied to the parsed TOML
// document before it is validated, so flags and file share one validation path. Each
// value is parsed on its own with the flag as its source name: the nodes carry that name,
// and every message about them shows it instead of a file position.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/config_section.h"

namespace petrel::config_detail {

namespace {

// One segment of a dotted key: "machine", "drive[1]" (index 1) or "drive[]" (append).
struct KeySegment {
  std::string name;
  enum class Kind { kTable, kEntry, kNewEntry } kind = Kind::kTable;
  size_t index = 0;
};

bool bare_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::optional<KeySegment> parse_segment(std::string_view text) {
  KeySegment segment;
  const size_t bracket = text.find('[');
  segment.name = std::string(text.substr(0, bracket));
  if (segment.name.empty() || !std::ranges::all_of(segment.name, bare_key_char)) {
    return std::nullopt;
  }
  if (bracket == std::string_view::npos) return segment;
  std::string_view inside = text.substr(bracket + 1);
  if (inside.empty() || inside.back() != ']') return std::nullopt;
  inside.remove_suffix(1);
  if (inside.empty()) {
    segment.kind = KeySegment::Kind::kNewEntry;
    return segment;
  }
  const auto [end, error] =
      std::from_chars(inside.data(), inside.data() + inside.size(), segment.index);
  if (error != std::errc() || end != inside.data() + inside.size()) return std::nullopt;
  segment.kind = KeySegment::Kind::kEntry;
  return segment;
}

std::optional<std::vector<KeySegment>> parse_key(std::string_view key) {
  std::vector<KeySegment> segments;
  for (;;) {
    const size_t dot = key.find('.');
    auto segment = parse_segment(key.substr(0, dot));
    if (!segment) return std::nullopt;
    segments.push_back(std::move(*segment));
    if (dot == std::string_view::npos) return segments;
    key.remove_prefix(dot + 1);
  }
}

// The value as a node whose source is the flag. `v = VALUE` must parse to that one key: a
// guessed value with a newline in it cannot add keys of its own.
std::optional<toml::table> parse_value(const ConfigOverride& entry, bool as_string) {
  const std::string text =
      fmt::format("v = {}", as_string ? toml_string(entry.value) : entry.value);
  toml::parse_result parsed = toml::parse(text, std::string_view(entry.origin));
  if (!parsed || parsed.table().size() != 1 || !parsed.table().contains("v")) return std::nullopt;
  return std::move(parsed).table();
}

std::unexpected<Error> bad_override(const ConfigOverride& entry, std::string_view message) {
  return fail(ExitCode::kBadConfig,
              fmt::format("{}: {}: {}", printable(entry.origin), printable(entry.key), message));
}

// The array a "name[N]" or "name[]" segment names, or null; for "name[]" it is created when
// absent, under `key`.
toml::array* entry_array(toml::table& table, const KeySegment& segment, toml::key key) {
  toml::node* node = table.get(segment.name);
  if (node == nullptr && segment.kind == KeySegment::Kind::kNewEntry) {
    node = &table.insert_or_assign(std::move(key), toml::array{}).first->second;
  }
  return node == nullptr ? nullptr : node->as_array();
}

// The table a non-final segment names, created when absent.
Result<toml::table*> descend(toml::table& table, const KeySegment& segment,
                             const ConfigOverride& entry) {
  if (segment.kind == KeySegment::Kind::kTable) {
    toml::node* node = table.get(segment.name);
    if (node == nullptr) {
      return table.insert_or_assign(segment.name, toml::table{}).first->second.as_table();
    }
    if (!node->is_table()) {
      return bad_override(
          entry, fmt::format("{} is a {} here, not a table", segment.name, type_name(*node)));
    }
    return node->as_table();
  }
  toml::array* array = entry_array(table, segment, toml::key(segment.name));
  if (array == nullptr) {
    return bad_override(entry, fmt::format("there is no array of tables {}", segment.name));
  }
  if (segment.kind == KeySegment::Kind::kNewEntry) {
    array->push_back(toml::table{});
    return array->back().as_table();
  }
  if (segment.index >= array->size() || !array->get(segment.index)->is_table()) {
    return bad_override(entry, fmt::format("there is no table {}[{}] ({} entries)", segment.name,
                                           segment.index, array->size()));
  }
  return array->get(segment.index)->as_table();
}

Result<> apply_one(toml::table& document, const ConfigOverride& entry) {
  auto segments = parse_key(entry.key);
  if (!segments) {
    return bad_override(entry,
                        "not a config key (a dotted path such as machine.vcpus or drive[0].path)");
  }
  toml::table* table = &document;
  for (size_t i = 0; i + 1 < segments->size(); ++i) {
    auto next = TRY(descend(*table, (*segments)[i], entry));
    table = next;
  }
  ConfigOverride effective = entry;
  if (entry.form == ConfigOverride::Form::kAppend) {
    const auto* existing = table->get_as<std::string>(segments->back().name);
    if (existing != nullptr && !existing->get().empty()) {
      effective.value = existing->get() + " " + entry.value;
    }
  }
  std::optional<toml::table> parsed;
  if (entry.form == ConfigOverride::Form::kGuess) parsed = parse_value(effective, false);
  if (!parsed) parsed = parse_value(effective, true);
  if (!parsed) return bad_override(entry, "cannot be read as a value");
  toml::node& value = *parsed->get("v");

  const KeySegment& last = segments->back();
  // The key carries the flag as its source too, for messages about the key itself.
  toml::key key(last.name, toml::source_region{value.source()});
  if (last.kind == KeySegment::Kind::kTable) {
    table->insert_or_assign(std::move(key), std::move(value));
    return {};
  }
  toml::array* array = entry_array(*table, last, std::move(key));
  if (array == nullptr) {
    return bad_override(entry, fmt::format("there is no array {}", last.name));
  }
  if (last.kind == KeySegment::Kind::kNewEntry) {
    array->push_back(std::move(value));
  } else if (last.index < array->size()) {
    array->replace(array->cbegin() + static_cast<ptrdiff_t>(last.index), std::move(value));
  } else {
    return bad_override(entry, fmt::format("there is no {}[{}] ({} entries)", last.name, last.index,
                                           array->size()));
  }
  return {};
}

}  // namespace
}  // namespace petrel::config_detail

namespace petrel {

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\u{:04x}", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace petrel

namespace petrel::config_detail {

bool from_command_line(const toml::source_region& region) {
  return region.path != nullptr && region.path->starts_with("--");
}

Result<> apply_overrides(toml::table& document, std::span<const ConfigOverride> overrides) {
  for (const ConfigOverride& entry : overrides) {
    TRY(apply_one(document, entry));
  }
  return {};
}

}  // namespace petrel::config_detail

#pragma once

// The TOML loader's reading of tables, shared by core/config.cc (top level, [machine],
// [boot], [console]), core/config_devices.cc (the device tables) and the device kinds'
// readers in devices/ (as ConfigTable, core/device_config.h), which validate their own keys.

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace petrel::config_detail {

// Control characters become escapes: TOML strings and keys may hold newlines, and every
// message must stay on one line.
std::string printable(std::string_view text);

// A value the user wrote, as a message shows it: quoted, escaped and cut short.
std::string quote_value(std::string_view text);

// "string", "integer", ... as messages name a value's type.
std::string_view type_name(const toml::node& node);

// "file:line:column"; toml++ leaves 0 where it knows no position. A value set on the
// command line is shown as its flag ("--vcpus 0"), a table no one wrote as the file alone.
std::string position(std::string_view file, const toml::source_region& region);

// core/config_overrides.cc: command-line keys (ConfigOverride).

// Whether a node came from the command line rather than the file: its source is the flag.
bool from_command_line(const toml::source_region& region);

// Sets each override's key in `document`, in order; a malformed key, or one that runs into
// a value of another kind ("machine.vcpus.x"), is BAD_CONFIG naming the flag.
Result<> apply_overrides(toml::table& document, std::span<const ConfigOverride> overrides);

// BAD_CONFIG "file:line:column: key: message".
std::unexpected<Error> bad_config(std::string_view file, const toml::source_region& region,
                                  std::string_view key, std::string_view message);

// One table of the document: reads its keys by type and names them in errors by their
// path ("machine.vcpus", "drive[0].path").
class Section {
 public:
  // `file` is the config's name as messages show it; `path` names the table ("" for the
  // document, "machine", "drive[1]").
  Section(const std::string& file, const toml::table& table, std::string path)
      : file_(&file), table_(&table), path_(std::move(path)) {}

  const std::string& file() const { return *file_; }
  std::string name(std::string_view key) const;
  const toml::node* find(std::string_view key) const { return table_->get(key); }
  std::string at(std::string_view key) const { return position(*file_, find(key)->source()); }

  // For a key that is present: the error names its value's position.
  std::unexpected<Error> bad(std::string_view key, std::string_view message) const {
    return bad_config(*file_, find(key)->source(), name(key), message);
  }

  // For the table as a whole: the error names the table and its position.
  std::unexpected<Error> bad_table(std::string_view message) const {
    return bad_config(*file_, table_->source(), path_, message);
  }

  std::unexpected<Error> wrong_type(std::string_view key, std::string_view expected) const;

  // For a key that is absent: the error names the table's position.
  std::unexpected<Error> missing(std::string_view key, std::string_view what) const;

  // T is std::string, int64_t or bool; `expected` names it in messages ("an integer").
  template <typename T>
  Result<std::optional<T>> get(std::string_view key, std::string_view expected) const {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is<T>()) return wrong_type(key, expected);
    return node->as<T>()->get();
  }
  Result<std::optional<std::string>> string(std::string_view key) const {
    return get<std::string>(key, "a string");
  }
  Result<std::optional<bool>> boolean(std::string_view key) const {
    return get<bool>(key, "a boolean");
  }

  // [key]: the table, or none if the key is absent.
  Result<std::optional<Section>> section(std::string_view key, bool required) const;

  // [[key]]: each table of the array in file order, named "key[0]", "key[1]", ...; none if
  // the key is absent.
  Result<std::vector<Section>> sections(std::string_view key) const;

 private:
  const std::string* file_;
  const toml::table* table_;
  std::string path_;
};

// A string from a fixed set of words, as its enum value.
template <typename Enum>
Result<std::optional<Enum>> choice(const Section& section, std::string_view key,
                                   std::initializer_list<std::pair<std::string_view, Enum>> words) {
  auto text = TRY(section.string(key));
  if (!text) return std::nullopt;
  std::string allowed;
  for (const auto& [word, value] : words) {
    if (*text == word) return value;
    allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : " or ", word);
  }
  return section.bad(key, fmt::format("{} is not {}", quote_value(*text), allowed));
}

// A path, absolute and lexically normal. Relative to the config file's folder, not the
// working directory, so a config means the same files wherever petrel is started from;
// a path given on the command line is relative to the working directory, as in any shell.
// Empty paths and paths with a NUL are BAD_CONFIG.
Result<std::optional<std::filesystem::path>> read_path(const Section& section, std::string_view key,
                                                       const std::filesystem::path& source);

// Why the file at `path` cannot be used ("No such file or directory", "not a regular
// file"), or none when it is a regular file (or, with `block_devices`, a block device) that
// open() with `open_flags` accepts. open() rather than access(): it answers for the
// effective user, who opens the file later.
std::optional<std::string> unusable_file(const std::filesystem::path& path, int open_flags,
                                         bool block_devices);

// Unknown keys are searched for in the whole document before anything else is read, so a
// misspelt required key is reported as the typo it is, not as missing. The earliest one in
// the file wins; toml++ iterates tables in key order, not file order.
struct UnknownKey {
  std::string name;
  toml::source_region where;
  bool is_table = false;
  std::vector<std::string_view> known;
};

// Updates `first` with any key of `table` not in `known` that comes earlier in the file;
// `path` names the table ("" for the document, "drive[0]").
void find_unknown_keys(const toml::table& table, std::string_view path,
                       std::span<const std::string_view> known, std::optional<UnknownKey>& first);

// core/config_devices.cc: the device tables, by the kinds the loader was given.

// The tables of `kinds`, for the top level's known keys.
std::vector<std::string_view> device_tables(DeviceKinds kinds);

// Unknown keys inside each device table. Entries of the wrong type are left for
// read_devices() to report.
void find_unknown_device_keys(const toml::table& document, DeviceKinds kinds,
                              std::optional<UnknownKey>& first);

// Reads and validates the device tables into `config.devices`; looks at no file.
Result<> read_devices(const Section& root, const std::filesystem::path& source, DeviceKinds kinds,
                      Config& config);

// After every value is validated: each device kind's check of the files its entries name.
Result<> check_device_files(const Section& root, DeviceKinds kinds, const Config& config);

}  // namespace petrel::config_detail

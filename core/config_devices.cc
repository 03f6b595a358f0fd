// The device tables of the TOML config, read by the kinds the loader was given
// (core/device_config.h): [[table]] entries for a repeated kind, named with their index
// counted from 0 ("drive[1].path"), or one [table].
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/config_section.h"

namespace petrel {

bool Config::has_device(std::string_view table) const {
  return std::ranges::any_of(
      devices, [&](const DeviceEntry& device) { return device.kind->table == table; });
}

bool Config::shares_guest_memory() const {
  return std::ranges::any_of(
      devices, [](const DeviceEntry& device) { return device.kind->shares_guest_memory; });
}

Result<std::optional<std::any>> read_enabled_table(const ConfigTable& table,
                                                   const std::filesystem::path&) {
  auto enabled = TRY(table.boolean("enabled"));
  if (!enabled.value_or(true)) return std::nullopt;
  return std::any();
}

namespace config_detail {

namespace {

std::vector<std::string_view> key_names(const DeviceConfigKind& kind) {
  std::vector<std::string_view> names;
  for (const DeviceKey& key : kind.keys) names.push_back(key.name);
  return names;
}

// The tables of one kind as the file has them: every [[table]] entry, at most
// `max_entries`, or the [table] if present.
Result<std::vector<Section>> tables_of(const Section& root, const DeviceConfigKind& kind) {
  if (!kind.repeated) {
    auto table = TRY(root.section(kind.table, false));
    if (!table) return std::vector<Section>{};
    return std::vector<Section>{*table};
  }
  auto tables = TRY(root.sections(kind.table));
  if (tables.size() > kind.max_entries) {
    return tables[kind.max_entries].bad_table(
        fmt::format("more than {} {}", kind.max_entries, kind.plural));
  }
  return tables;
}

// Two entries must not share what `kind.unique` names (one image, one tap, one tag).
Result<> check_unique(const DeviceConfigKind& kind, const Section& entry, const std::any& settings,
                      std::span<const DeviceEntry> earlier_devices) {
  if (kind.unique == nullptr) return {};
  const std::vector<UniqueValue> values = kind.unique(settings);
  for (const DeviceEntry& earlier : earlier_devices) {
    if (earlier.kind != &kind) continue;
    const std::vector<UniqueValue> taken = kind.unique(earlier.settings);
    for (const UniqueValue& value : values) {
      const bool clash = std::ranges::any_of(taken, [&](const UniqueValue& other) {
        return other.key == value.key && other.value == value.value;
      });
      if (clash) {
        return entry.bad(value.key, fmt::format("{} is already used by {}[{}]", value.shown,
                                                kind.table, earlier.index));
      }
    }
  }
  return {};
}

}  // namespace

std::vector<std::string_view> device_tables(DeviceKinds kinds) {
  std::vector<std::string_view> tables;
  for (const DeviceConfigKind* kind : kinds) tables.push_back(kind->table);
  return tables;
}

void find_unknown_device_keys(const toml::table& document, DeviceKinds kinds,
                              std::optional<UnknownKey>& first) {
  for (const DeviceConfigKind* kind : kinds) {
    const std::vector<std::string_view> known = key_names(*kind);
    auto find = [&](const toml::table& table, const std::string& path) {
      find_unknown_keys(table, path, known, first);
    };
    if (!kind->repeated) {
      if (const toml::table* table = document.get_as<toml::table>(kind->table)) {
        find(*table, std::string(kind->table));
      }
      continue;
    }
    // Entries of the wrong type are left for read_devices() to report.
    const toml::array* array = document.get_as<toml::array>(kind->table);
    if (array == nullptr) continue;
    for (size_t i = 0; i < array->size(); ++i) {
      if (const toml::table* table = array->get_as<toml::table>(i)) {
        find(*table, fmt::format("{}[{}]", kind->table, i));
      }
    }
  }
}

Result<> read_devices(const Section& root, const std::filesystem::path& source, DeviceKinds kinds,
                      Config& config) {
  for (const DeviceConfigKind* kind : kinds) {
    const std::vector<Section> tables = TRY(tables_of(root, *kind));
    for (size_t i = 0; i < tables.size(); ++i) {
      auto settings = TRY(kind->read(tables[i], source));
      if (!settings) continue;
      TRY(check_unique(*kind, tables[i], *settings, config.devices));
      config.devices.push_back({kind, i, std::move(*settings)});
    }
  }
  return {};
}

Result<> check_device_files(const Section& root, DeviceKinds kinds, const Config& config) {
  for (const DeviceConfigKind* kind : kinds) {
    if (kind->check_files == nullptr) continue;
    // read_devices() accepted these tables, so they are there and well typed.
    const std::vector<Section> tables = tables_of(root, *kind).value();
    for (const DeviceEntry& device : config.devices) {
      if (device.kind == kind) TRY(kind->check_files(tables[device.index], device.settings));
    }
  }
  return {};
}

}  // namespace config_detail

}  // namespace petrel

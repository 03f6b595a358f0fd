#pragma once

// How a device kind's configuration is described, so that the config loader, the
// command-line flags, `petrel check` and the docs tests are driven from one registration per
// kind (devices/registry.cc) without core knowing any device. The device's own file pair
// defines its kind: its table, keys, limits, flag and reader.

#include <any>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace petrel {

namespace config_detail {
class Section;
}
// One table of the config as a device's reader sees it: typed getters whose errors name
// the key with its position ("file:3:8: drive[0].id: ...").
using ConfigTable = config_detail::Section;

// A key of a device's table, for the unknown-key message and the docs check.
struct DeviceKey {
  std::string_view name;
  std::string_view type;  // as petrel.toml(5) heads it: "path, required", "boolean, default false"
};

// The command-line flag that stands for a device's table, if it has one.
struct DeviceFlag {
  enum class Form {
    kNone,
    // `--drive PATH[,ro][,id=SERIAL]`: one [[drive]] entry; the first part is `first_key`,
    // each bare word a boolean key set true (`words` maps a short word to its key: ro ->
    // read_only), each key=value a string key. Repeatable.
    kEntry,
    // `--rng`: the single table, enabled.
    kSwitch,
  };
  Form form = Form::kNone;
  std::string_view name;  // without the dashes: "drive"
  std::string_view help;
  std::string_view first_key;
  std::span<const std::pair<std::string_view, std::string_view>> words;
};

// A value no two entries of a kind may share (two drives on one image, two nets on one tap):
// the loader reports "KEY: SHOWN is already used by drive[0]".
struct UniqueValue {
  std::string_view key;
  std::string value;  // compared
  std::string shown;  // as the message shows it
};

// Everything the config side knows of a device kind.
struct DeviceConfigKind {
  std::string_view table;  // "drive" for [[drive]], "rng" for [rng]
  // [[table]] entries, up to `max_entries`, named "drive[0]", ...; else one [table].
  bool repeated = false;
  size_t max_entries = 1;
  std::string_view plural;  // "drives", for "more than 16 drives"
  std::span<const DeviceKey> keys;
  DeviceFlag flag;
  // Reads and validates one table (files are not looked at): the kind's settings, or none
  // when the table asks for no device (`enabled = false`). `source` is the config file,
  // against whose folder relative paths resolve.
  Result<std::optional<std::any>> (*read)(const ConfigTable& table,
                                          const std::filesystem::path& source) = nullptr;
  // The values of one entry that no other entry may share, in the order they are compared.
  std::vector<UniqueValue> (*unique)(const std::any& settings) = nullptr;
  // After the whole config is valid: whether the files the entry names can be used
  // (DEVICE_INITIALIZATION_FAILURE naming the key), so a config mistake wins over a missing
  // file.
  Result<> (*check_files)(const ConfigTable& table, const std::any& settings) = nullptr;
  // Backends outside petrel map guest RAM (vhost-user): then it must be shared memory.
  bool shares_guest_memory = false;
  // Its device is the machine's power button, which `machine.stop_grace` presses.
  bool power_button = false;
};

// The kinds a loader knows, in the order their tables are listed and their devices made.
using DeviceKinds = std::span<const DeviceConfigKind* const>;

// One configured device: its kind, its index among its kind's entries, and the settings
// the kind's reader made (a type of the device's own, or nothing for a switch-only kind).
struct DeviceEntry {
  const DeviceConfigKind* kind = nullptr;
  size_t index = 0;
  std::any settings;
};

// The reader of a kind whose table has one key, `enabled` (default true): the table alone
// asks for the device.
Result<std::optional<std::any>> read_enabled_table(const ConfigTable& table,
                                                   const std::filesystem::path& source);

}  // namespace petrel

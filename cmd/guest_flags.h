#pragma once

#include <CLI/CLI.hpp>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "devices/registry.h"

namespace petrel {

// The guest as the command line describes it: a config file, flags that stand for its
// keys (--kernel, --vcpus, --drive, ...) and `--set KEY=VALUE`; or, in quick mode, flags
// alone. Kernel arguments after `--` are added to the command line.
class GuestFlags {
 public:
  // `kinds`: the device kinds whose tables the config may have and whose flags are added;
  // petrel's own by default (devices/registry.h).
  explicit GuestFlags(DeviceKinds kinds = device_kinds()) : kinds_(kinds) {}

  // Adds the CONFIG positional (optional) and the flags to `command`.
  void add_to(CLI::App& command);

  // Kernel arguments: what followed `--` on the command line.
  void set_kernel_args(std::vector<std::string> args) { kernel_args_ = std::move(args); }

  // Loads the file with the flags on top, or the flags alone; BAD_CONFIG for a flag whose
  // value has the wrong form, and every error load_config() gives.
  Result<Config> load() const;

  // What messages call the guest: the config file, or "command line".
  std::string source_name() const;

 private:
  Result<std::vector<ConfigOverride>> overrides() const;

  std::optional<std::filesystem::path> config_;
  std::optional<std::string> name_, kernel_, initrd_, append_, vcpus_, memory_, stop_grace_,
      console_, console_log_, uart_, api_sock_;
  std::vector<std::string> sets_, kernel_args_;

  // The values of one device kind's flag: its entries (`--drive a,ro --drive b`) or whether
  // it was given (`--rng`). A deque: CLI11 holds references to the members.
  struct DeviceFlagValues {
    const DeviceConfigKind* kind;
    std::vector<std::string> entries;
    bool given = false;
  };
  DeviceKinds kinds_;
  std::deque<DeviceFlagValues> device_flags_;
};

}  // namespace petrel

#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace petrel {

// The guest as the command line describes it: a config file, flags that stand for its
// keys (--kernel, --vcpus, --drive, ...) and `--set KEY=VALUE`; or, in quick mode, flags
// alone. Kernel arguments after `--` are added to the command line.
class GuestFlags {
 public:
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
  std::optional<std::string> name_, kernel_, initrd_, append_, vcpus_, memory_, console_,
      console_log_;
  std::vector<std::string> drives_, shares_, nets_, sets_, kernel_args_;
  bool test_exit_ = false;
  bool rng_ = false;
};

}  // namespace petrel

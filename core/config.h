#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/device_config.h"
#include "core/error.h"

namespace petrel {

enum class OnReset { kExit, kRestart };

enum class ConsoleMode {
  kStdio,  // guest output to stdout, stdin to the guest
  kNone,   // console device present, output discarded, no input
};

// The console's UART model: the PL011 (Linux ttyAMA0), as on QEMU's virt machine, or
// the 16550A (ttyS0).
enum class ConsoleUartKind { kPl011, kUart16550 };

// A validated guest description. Every path is absolute (resolved against the config
// file's folder) and every file named here existed and was readable at validation time.
struct Config {
  std::filesystem::path source;  // the TOML file, for messages; empty in quick mode
  std::string name;              // `name`, default: the config file's stem

  struct Machine {
    uint32_t vcpus = 1;
    uint64_t memory_bytes = 512ull << 20;
    // `pmu`: a virtual PMU (perf in the guest). Unset: where the host's KVM has one.
    std::optional<bool> pmu;
    // `stop_grace`: a stop signal first presses the power button and waits this long for the
    // guest to power off; none: it stops the VM at once.
    std::optional<std::chrono::milliseconds> stop_grace;
  } machine;

  struct Boot {
    std::filesystem::path kernel;
    std::optional<std::filesystem::path> initrd;
    std::string cmdline;
  } boot;

  struct Console {
    ConsoleMode mode = ConsoleMode::kStdio;
    // `log`: a copy of everything the guest prints, written as it comes (no buffering in
    // petrel), so it holds the console up to the moment petrel was killed.
    std::optional<std::filesystem::path> log;
    ConsoleUartKind uart = ConsoleUartKind::kPl011;
  } console;

  // The devices of the kinds the loader was given (core/device_config.h), in the kinds'
  // order and then in config order: all drives, in file order, then all nets, ...
  std::vector<DeviceEntry> devices;

  // The settings of each device whose kind stores `Settings`, in that order.
  template <typename Settings>
  std::vector<Settings> settings_of() const {
    std::vector<Settings> found;
    for (const DeviceEntry& device : devices) {
      if (const auto* settings = std::any_cast<Settings>(&device.settings)) {
        found.push_back(*settings);
      }
    }
    return found;
  }
  // Whether a device of the kind with this table is configured.
  bool has_device(std::string_view table) const;
  // Whether any device's backend maps guest RAM, which must then be shared memory.
  bool shares_guest_memory() const;

  OnReset on_reset = OnReset::kExit;

  // [api]: the control socket `run` serves (vmm/api_server.h).
  struct Api {
    bool enabled = true;  // socket = "none" turns it off
    // socket = "PATH"; none: NAME.sock in the runtime folder that holds the instance lock.
    std::optional<std::filesystem::path> socket;
  } api;
};

// Limits the config enforces before any VM exists.
inline constexpr uint64_t kMinMemoryBytes = 64ull << 20;
inline constexpr uint64_t kMaxMemoryBytes = 1ull << 40;  // 1 TiB, far above any microVM
inline constexpr uint32_t kMaxConfigVcpus = 512;         // KVM's own limit is checked at Create
inline constexpr size_t kMaxCmdlineBytes = 2048;         // arm64 COMMAND_LINE_SIZE
inline constexpr size_t kMaxSocketPathBytes = 107;       // sockaddr_un's sun_path, less its NUL

// Parses a size such as "512M", "1G", "65536" or 536870912 given as a string.
// Suffixes K, M, G, T (optionally followed by "iB" or "B") are binary multiples; a bare "B"
// means bytes; suffix letters are case-insensitive. Signs, fractions, spaces and values
// above 2^64-1 are BAD_CONFIG (message without a position: the caller adds it). Zero is a
// size: callers check ranges.
Result<uint64_t> parse_size(std::string_view text);

// Parses "30", "30s", "500ms", "2m", "1h" (as timeout(1) reads a bare number: seconds).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// A key set from the command line, on top of a config file or, in quick mode, instead of
// one: `--set machine.vcpus=4`, or a flag that stands for a key (`--vcpus 4`). It goes
// through the same validation as the file, and its errors name `origin` in place of
// "file:line:column": "--vcpus 0: machine.vcpus: 0 is out of range 1..512".
struct ConfigOverride {
  // The flag as the user typed it. It starts with "--": that is how values from the command
  // line are told from the file's (relative paths in them start at the working directory).
  std::string origin;
  // A dotted path: "machine.vcpus", "boot.kernel". A segment "drive[1]" is an entry of an
  // array of tables, "drive[]" a new entry appended to it.
  std::string key;
  std::string value;
  // How `value` reads: kString is taken as it is (paths); kGuess is a TOML value when it
  // parses as one (4, true, { path = "x" }) and a string otherwise (512M, none), so `--set`
  // reads naturally without shell-quoted TOML quotes; kAppend is a string added, after a
  // space, to the key's string (kernel arguments after `--`).
  enum class Form { kString, kGuess, kAppend } form = Form::kGuess;
};

// `text` as a TOML basic string, quoted and escaped: for override values built from parts.
std::string toml_string(std::string_view text);

// Reads, parses and validates a TOML config whose device tables are those of `kinds`
// (devices/registry.h has petrel's). Errors are BAD_CONFIG with one line
// "file:line:column: key: message" (the file as given; "file: cannot read: reason" if it
// cannot be read; keys of [[drive]] entries as "drive[0].path", counted from 0),
// KERNEL_LOAD_FAILURE for a kernel or initrd that is missing, not a regular file or
// unreadable, or DEVICE_INITIALIZATION_FAILURE for a file a device names that it cannot use
// (a drive image, a share folder). Unknown keys are reported first (the earliest in the
// file), then any other mistake, then the kernel and initrd files, then the devices' files,
// so a config mistake wins over a missing file. `overrides` are applied in order on top of
// the file, later ones winning.
Result<Config> load_config(DeviceKinds kinds, const std::filesystem::path& file,
                           std::span<const ConfigOverride> overrides = {});

// Same, from text already in memory; `source` names it in messages, anchors relative
// paths (its parent folder, or the working directory) and gives the default name (its
// stem, which then must be a valid name).
Result<Config> parse_config(DeviceKinds kinds, std::string_view text,
                            const std::filesystem::path& source,
                            std::span<const ConfigOverride> overrides = {});

// Quick mode: a guest from command-line keys alone. Relative paths are taken from the
// working directory; the default name is "petrel-PID", unique among running guests.
Result<Config> config_from_overrides(DeviceKinds kinds, std::span<const ConfigOverride> overrides);

}  // namespace petrel

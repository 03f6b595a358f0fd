#include "core/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "core/config_section.h"
#include "core/unique_fd.h"

namespace petrel {

namespace {

using config_detail::bad_config;
using config_detail::printable;
using config_detail::quote_value;
using config_detail::Section;

// Guest RAM comes in 2 MiB units so the host can back it with huge pages.
constexpr uint64_t kMemoryAlignment = 2ull << 20;
// A config is a few hundred bytes; the cap keeps `petrel check /dev/zero` from reading forever.
constexpr size_t kMaxConfigFileBytes = 1 << 20;

// Then each device kind's table.
constexpr std::array<std::string_view, 6> kTopLevelKeys = {"name", "on_reset", "machine",
                                                           "boot", "console",  "api"};
constexpr std::array<std::string_view, 4> kMachineKeys = {"vcpus", "memory", "pmu", "stop_grace"};
constexpr std::array<std::string_view, 3> kBootKeys = {"kernel", "initrd", "cmdline"};
constexpr std::array<std::string_view, 3> kConsoleKeys = {"mode", "log", "uart"};
constexpr std::array<std::string_view, 1> kApiKeys = {"socket"};

constexpr std::array<std::pair<std::string_view, std::span<const std::string_view>>, 4> kSections =
    {{{"machine", kMachineKeys},
      {"boot", kBootKeys},
      {"console", kConsoleKeys},
      {"api", kApiKeys}}};

std::optional<Error> first_unknown_key(const std::string& file, const toml::table& document,
                                       DeviceKinds kinds) {
  std::optional<config_detail::UnknownKey> first;
  std::vector<std::string_view> top_level(kTopLevelKeys.begin(), kTopLevelKeys.end());
  std::ranges::copy(config_detail::device_tables(kinds), std::back_inserter(top_level));
  config_detail::find_unknown_keys(document, "", top_level, first);
  for (const auto& [name, keys] : kSections) {
    if (const toml::table* table = document.get_as<toml::table>(name)) {
      config_detail::find_unknown_keys(*table, name, keys, first);
    }
  }
  config_detail::find_unknown_device_keys(document, kinds, first);
  if (!first) return std::nullopt;
  const std::string message =
      fmt::format("unknown {}; known here: {}", first->is_table ? "table" : "key",
                  fmt::join(first->known, ", "));
  return bad_config(file, first->where, first->name, message).error();
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

constexpr std::string_view kNameRule = "letters, digits, '.', '_' or '-', 1 to 64 of them";

Result<> read_top_level(const Section& root, const std::filesystem::path& source, Config& config) {
  auto name = TRY(root.string("name"));
  if (name) {
    if (!valid_name(*name)) {
      return root.bad("name",
                      fmt::format("{} is not a valid name ({})", quote_value(*name), kNameRule));
    }
    config.name = *name;
  } else if (source.empty()) {
    // Quick mode: parallel test loops must not trip over each other's instance lock.
    config.name = fmt::format("petrel-{}", getpid());
  } else {
    config.name = source.stem().string();
    if (!valid_name(config.name)) {
      return fail(
          ExitCode::kBadConfig,
          fmt::format("{}:1:1: name: the file name gives {}, not a valid name ({}); set name",
                      root.file(), quote_value(config.name), kNameRule));
    }
  }
  const auto on_reset = TRY(config_detail::choice<OnReset>(
      root, "on_reset", {{"exit", OnReset::kExit}, {"restart", OnReset::kRestart}}));
  config.on_reset = on_reset.value_or(OnReset::kExit);
  return {};
}

Result<uint64_t> read_memory(const Section& machine) {
  const toml::node& node = *machine.find("memory");
  std::string shown;
  uint64_t bytes = 0;
  if (const auto* integer = node.as_integer()) {
    shown = std::to_string(integer->get());
    // A negative count fails the range check below, like any other too-small one.
    bytes = integer->get() < 0 ? 0 : static_cast<uint64_t>(integer->get());
  } else if (const auto* text = node.as_string()) {
    auto size = parse_size(text->get());
    if (!size) return machine.bad("memory", size.error().message);
    shown = quote_value(text->get());
    bytes = *size;
  } else {
    return machine.wrong_type("memory", "a size string or an integer");
  }
  // The message below names the limits in MiB and TiB.
  static_assert(kMinMemoryBytes % (1ull << 20) == 0 && kMaxMemoryBytes % (1ull << 40) == 0);
  if (bytes < kMinMemoryBytes || bytes > kMaxMemoryBytes) {
    return machine.bad("memory", fmt::format("{} is out of range {} MiB..{} TiB", shown,
                                             kMinMemoryBytes >> 20, kMaxMemoryBytes >> 40));
  }
  if (bytes % kMemoryAlignment != 0) {
    return machine.bad("memory", fmt::format("{} is not a multiple of 2 MiB", shown));
  }
  return bytes;
}

Result<> read_machine(const Section& root, Config::Machine& machine) {
  auto section = TRY(root.section("machine", false));
  if (!section) return {};
  const Section& table = *section;
  auto vcpus = TRY(table.get<int64_t>("vcpus", "an integer"));
  if (vcpus) {
    if (*vcpus < 1 || *vcpus > kMaxConfigVcpus) {
      return table.bad("vcpus", fmt::format("{} is out of range 1..{}", *vcpus, kMaxConfigVcpus));
    }
    machine.vcpus = static_cast<uint32_t>(*vcpus);
  }
  if (table.find("memory") != nullptr) {
    auto memory = TRY(read_memory(table));
    machine.memory_bytes = memory;
  }
  machine.pmu = TRY(table.get<bool>("pmu", "a boolean"));
  if (const toml::node* node = table.find("stop_grace")) {
    const auto* text = node->as_string();
    if (text == nullptr) return table.wrong_type("stop_grace", "a duration string such as \"10s\"");
    machine.stop_grace = parse_duration(text->get());
    if (!machine.stop_grace || machine.stop_grace->count() == 0) {
      return table.bad("stop_grace", fmt::format("{} is not a duration above 0 (e.g. \"10s\", "
                                                 "\"500ms\", \"2m\")",
                                                 quote_value(text->get())));
    }
  }
  return {};
}

// A grace period is spent waiting for the guest to act on its power button, so it needs
// one: refused rather than added unasked, so that the device tree holds only what the config
// names.
Result<> check_stop_grace(const Section& root, DeviceKinds kinds, const Config& config) {
  if (!config.machine.stop_grace) return {};
  const bool has_button = std::ranges::any_of(
      config.devices, [](const DeviceEntry& device) { return device.kind->power_button; });
  if (has_button) return {};
  std::vector<std::string> tables;
  for (const DeviceConfigKind* kind : kinds) {
    if (kind->power_button) tables.push_back(fmt::format("[{}]", kind->table));
  }
  auto machine = TRY(root.section("machine", false));
  return machine->bad("stop_grace",
                      fmt::format("a stop grace period needs a power button for the guest; add {}",
                                  tables.empty() ? std::string("one")
                                                 : fmt::format("{}", fmt::join(tables, " or "))));
}

Result<> read_console(const Section& root, const std::filesystem::path& source,
                      Config::Console& console) {
  auto section = TRY(root.section("console", false));
  if (!section) return {};
  const auto mode = TRY(config_detail::choice<ConsoleMode>(
      *section, "mode", {{"stdio", ConsoleMode::kStdio}, {"none", ConsoleMode::kNone}}));
  console.mode = mode.value_or(ConsoleMode::kStdio);
  auto log = TRY(config_detail::read_path(*section, "log", source));
  console.log = log;
  const auto uart = TRY(config_detail::choice<ConsoleUartKind>(
      *section, "uart",
      {{"pl011", ConsoleUartKind::kPl011}, {"16550", ConsoleUartKind::kUart16550}}));
  console.uart = uart.value_or(ConsoleUartKind::kPl011);
  return {};
}

// [api] socket: a path, or "none" for no control socket. Checked against the size of a socket
// address here, so `check` and the flag (--api-sock) report it as the config mistake it is.
Result<> read_api(const Section& root, const std::filesystem::path& source, Config::Api& api) {
  auto section = TRY(root.section("api", false));
  if (!section) return {};
  const Section& table = *section;
  auto text = TRY(table.string("socket"));
  if (!text) return {};
  if (*text == "none") {
    api.enabled = false;
    return {};
  }
  auto path = TRY(config_detail::read_path(table, "socket", source));
  const size_t bytes = path->string().size();
  if (bytes > kMaxSocketPathBytes) {
    return table.bad("socket",
                     fmt::format("{} is {} bytes long; a Unix socket path holds at most {}",
                                 quote_value(path->string()), bytes, kMaxSocketPathBytes));
  }
  api.socket = path;
  return {};
}

Result<> read_boot(const Section& root, const std::filesystem::path& source, Config::Boot& boot) {
  auto section = TRY(root.section("boot", true));
  const Section& table = *section;

  auto cmdline = TRY(table.string("cmdline"));
  boot.cmdline = cmdline.value_or("");
  if (boot.cmdline.find('\0') != std::string::npos) {
    return table.bad("cmdline", "contains a NUL character");
  }
  if (boot.cmdline.size() >= kMaxCmdlineBytes) {
    return table.bad("cmdline", fmt::format("{} bytes is longer than the {} the kernel accepts",
                                            boot.cmdline.size(), kMaxCmdlineBytes - 1));
  }

  auto kernel = TRY(config_detail::read_path(table, "kernel", source));
  if (!kernel) return table.missing("kernel", "key");
  auto initrd = TRY(config_detail::read_path(table, "initrd", source));
  boot.kernel = *kernel;
  boot.initrd = initrd;
  return {};
}

// Checked now rather than at load time so that `petrel check` catches a bad path and `run`
// fails before any VM exists. After every value is validated, so that one run reports a
// config mistake before a missing kernel.
Result<> check_boot_files(const Section& root, const Config::Boot& boot) {
  const Section table = *root.section("boot", true).value();
  auto check = [&](std::string_view key, const std::filesystem::path& path) -> Result<> {
    const auto why = config_detail::unusable_file(path, O_RDONLY, false);
    if (!why) return {};
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("{}: {}: {}: {}", table.at(key), table.name(key),
                            printable(path.string()), *why));
  };
  TRY(check("kernel", boot.kernel));
  if (boot.initrd) return check("initrd", *boot.initrd);
  return {};
}

// The whole file, read to its end rather than to an fstat size, so that a pipe such as
// `petrel run <(make-config)` works too.
Result<std::string> read_config_file(const std::filesystem::path& file) {
  auto cannot_read = [&](int error) {
    return fail(ExitCode::kBadConfig,
                fmt::format("{}: cannot read: {}", printable(file.string()), std::strerror(error)));
  };
  const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return cannot_read(errno);
  std::string text;
  std::array<char, 16384> buffer;
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return cannot_read(errno);
    if (got == 0) return text;
    if (text.size() + static_cast<size_t>(got) > kMaxConfigFileBytes) return cannot_read(EFBIG);
    text.append(buffer.data(), static_cast<size_t>(got));
  }
}

// Suffix letters are case-insensitive: "1g", "1G", "1GiB" and "1gib" all mean 1 GiB.
std::optional<unsigned> suffix_shift(std::string_view suffix) {
  std::string upper(suffix);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.empty() || upper == "B") return 0;
  constexpr std::string_view kUnits = "KMGT";
  const size_t unit = kUnits.find(upper[0]);
  if (unit == std::string_view::npos) return std::nullopt;
  const std::string_view rest = std::string_view(upper).substr(1);
  if (!rest.empty() && rest != "B" && rest != "IB") return std::nullopt;
  return static_cast<unsigned>(10 * (unit + 1));
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  const char* const end = text.data() + text.size();
  uint64_t value = 0;
  // from_chars takes digits only: no sign, no spaces, no fraction.
  const auto [rest, error] = std::from_chars(text.data(), end, value);
  const std::optional<unsigned> shift =
      error == std::errc::invalid_argument
          ? std::nullopt
          : suffix_shift(std::string_view(rest, static_cast<size_t>(end - rest)));
  if (!shift) {
    return fail(ExitCode::kBadConfig,
                fmt::format("{} is not a size (digits with an optional K, M, G or T suffix, "
                            "e.g. \"512M\")",
                            quote_value(text)));
  }
  if (error == std::errc::result_out_of_range ||
      value > (std::numeric_limits<uint64_t>::max() >> *shift)) {
    return fail(ExitCode::kBadConfig, fmt::format("{} is too large", quote_value(text)));
  }
  return value << *shift;
}

Result<Config> parse_config(DeviceKinds kinds, std::string_view text,
                            const std::filesystem::path& source,
                            std::span<const ConfigOverride> overrides) {
  const std::string source_name = source.string();
  const std::string file = source.empty() ? std::string("command line") : printable(source_name);
  toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return fail(ExitCode::kBadConfig,
                fmt::format("{}: {}", config_detail::position(file, error.source()),
                            printable(error.description())));
  }
  toml::table& document = parsed.table();
  TRY(config_detail::apply_overrides(document, overrides));
  if (auto unknown = first_unknown_key(file, document, kinds)) return std::unexpected(*unknown);

  const Section root(file, document, "");
  Config config;
  config.source = source;
  TRY(read_top_level(root, source, config));
  TRY(read_machine(root, config.machine));
  TRY(read_console(root, source, config.console));
  TRY(read_boot(root, source, config.boot));
  TRY(read_api(root, source, config.api));
  TRY(config_detail::read_devices(root, source, kinds, config));
  TRY(check_stop_grace(root, kinds, config));
  // Files last, so a config mistake wins over a missing file: the kernel and initrd, then
  // the devices' (drive images, share folders).
  TRY(check_boot_files(root, config.boot));
  TRY(config_detail::check_device_files(root, kinds, config));
  return config;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [rest, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || value < 0 || rest == text.data()) return std::nullopt;
  const std::string_view unit(rest, static_cast<size_t>(end - rest));
  double milliseconds;
  if (unit.empty() || unit == "s") {
    milliseconds = value * 1000;
  } else if (unit == "ms") {
    milliseconds = value;
  } else if (unit == "m") {
    milliseconds = value * 60'000;
  } else if (unit == "h") {
    milliseconds = value * 3'600'000;
  } else {
    return std::nullopt;
  }
  if (milliseconds > 1e15) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(milliseconds));
}

Result<Config> load_config(DeviceKinds kinds, const std::filesystem::path& file,
                           std::span<const ConfigOverride> overrides) {
  auto text = TRY(read_config_file(file));
  return parse_config(kinds, text, file, overrides);
}

Result<Config> config_from_overrides(DeviceKinds kinds, std::span<const ConfigOverride> overrides) {
  return parse_config(kinds, "", std::filesystem::path(), overrides);
}

}  // namespace petrel

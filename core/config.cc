#include "core/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

namespace petrel {

namespace {

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
    default: return "nothing";
  }
}

// Reads one TOML table: knows the file for messages, the dotted prefix for key names,
// and refuses keys it was not told about.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, const std::string& file)
      : table_(table), prefix_(std::move(prefix)), file_(file) {}

  std::string where(const toml::source_region& region) const {
    const auto line = region.begin.line == 0 ? 1 : region.begin.line;
    const auto column = region.begin.column == 0 ? 1 : region.begin.column;
    return fmt::format("{}:{}:{}", file_, line, column);
  }
  std::string where() const { return where(table_.source()); }
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

  std::unexpected<Error> bad(const toml::node& node, std::string_view key, std::string message) const {
    return fail(ExitCode::kBadConfig, fmt::format("{}: {}: {}", where(node.source()), name(key), message));
  }

  Result<> only(std::initializer_list<std::string_view> keys) const {
    for (auto&& [key, node] : table_) {
      if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
        return fail(ExitCode::kBadConfig,
                    fmt::format("{}: {}: unknown key", where(key.source()), name(key.str())));
      }
    }
    return {};
  }

  const toml::node* find(std::string_view key) const { return table_.get(key); }

  Result<std::optional<std::string>> string(std::string_view key) const {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_string()) return bad(*node, key, fmt::format("expected a string, got {}", type_name(*node)));
    return std::optional<std::string>(node->as_string()->get());
  }

  Result<std::optional<int64_t>> integer(std::string_view key) const {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_integer()) {
      return bad(*node, key, fmt::format("expected an integer, got {}", type_name(*node)));
    }
    return std::optional<int64_t>(node->as_integer()->get());
  }

  Result<const toml::table*> table(std::string_view key, bool required) const {
    const toml::node* node = find(key);
    if (node == nullptr) {
      if (!required) return nullptr;
      return fail(ExitCode::kBadConfig, fmt::format("{}: [{}]: missing table", where(), name(key)));
    }
    if (!node->is_table()) return bad(*node, key, fmt::format("expected a table, got {}", type_name(*node)));
    return node->as_table();
  }

 private:
  const toml::table& table_;
  std::string prefix_;
  const std::string& file_;
};

// A string from a fixed set, as an enum value.
template <typename Enum>
Result<std::optional<Enum>> choice(const TableReader& reader, std::string_view key,
                                   std::initializer_list<std::pair<std::string_view, Enum>> options) {
  auto text = reader.string(key);
  if (!text) return std::unexpected(text.error());
  if (!*text) return std::nullopt;
  std::string allowed;
  for (const auto& [word, value] : options) {
    if (**text == word) return std::optional<Enum>(value);
    allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : " or ", word);
  }
  return reader.bad(*reader.find(key), key, fmt::format("\"{}\" is not {}", **text, allowed));
}

Result<std::filesystem::path> readable_file(const TableReader& reader, std::string_view key,
                                            const std::string& text,
                                            const std::filesystem::path& folder) {
  std::filesystem::path path = std::filesystem::path(text);
  if (path.is_relative()) path = folder / path;
  path = path.lexically_normal();
  const toml::node& node = *reader.find(key);
  auto load_failure = [&](std::string why) {
    return fail(ExitCode::kKernelLoadFailure, fmt::format("{}: {}: {}: {}", reader.where(node.source()),
                                                          reader.name(key), path.string(), why));
  };
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error) return load_failure(error.message());
  if (!std::filesystem::is_regular_file(status)) return load_failure("not a regular file");
  if (::access(path.c_str(), R_OK) != 0) return load_failure(strerror(errno));
  return path;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  auto invalid = [&] {
    return fail(ExitCode::kBadConfig,
                fmt::format("\"{}\" is not a size (e.g. \"512M\", \"1G\", 536870912)", text));
  };
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[digits] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return invalid();
    value = value * 10 + digit;
    ++digits;
  }
  if (digits == 0) return invalid();
  std::string suffix(text.substr(digits));
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (suffix[0]) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      case 'B': shift = 0; break;
      default: return invalid();
    }
    const std::string rest = suffix.substr(1);
    if (suffix[0] == 'B' ? !rest.empty() : !(rest.empty() || rest == "B" || rest == "IB")) {
      return invalid();
    }
  }
  if (shift > 0 && value > (std::numeric_limits<uint64_t>::max() >> shift)) return invalid();
  return value << shift;
}

Result<Config> parse_config(std::string_view text, const std::filesystem::path& source) {
  const std::string file = source.string();
  toml::parse_result parsed = toml::parse(text, file);
  if (!parsed) {
    const auto& error = parsed.error();
    std::string description(error.description());
    std::replace(description.begin(), description.end(), '\n', ' ');
    return fail(ExitCode::kBadConfig, fmt::format("{}:{}:{}: {}", file, error.source().begin.line,
                                                  error.source().begin.column, description));
  }
  const toml::table& document = parsed.table();
  const TableReader root(document, "", file);
  if (auto r = root.only({"name", "on_reset", "machine", "boot", "console"}); !r) {
    return std::unexpected(r.error());
  }

  Config config;
  config.source = source;
  std::error_code cwd_error;
  const std::filesystem::path folder =
      std::filesystem::absolute(source.parent_path().empty() ? "." : source.parent_path(), cwd_error);

  auto name = root.string("name");
  if (!name) return std::unexpected(name.error());
  config.name = name->value_or(source.stem().string());
  if (!valid_name(config.name)) {
    const std::string message =
        fmt::format("\"{}\" is not a valid name (letters, digits, '.', '_', '-'; at most 64)", config.name);
    if (*name) return root.bad(*root.find("name"), "name", message);
    return fail(ExitCode::kBadConfig, fmt::format("{}: name: the file name gives {}; set name", file, message));
  }
  auto on_reset = choice<OnReset>(root, "on_reset", {{"exit", OnReset::kExit}, {"restart", OnReset::kRestart}});
  if (!on_reset) return std::unexpected(on_reset.error());
  config.on_reset = on_reset->value_or(OnReset::kExit);

  // [machine]
  auto machine_table = root.table("machine", false);
  if (!machine_table) return std::unexpected(machine_table.error());
  if (*machine_table != nullptr) {
    const TableReader machine(**machine_table, "machine.", file);
    if (auto r = machine.only({"vcpus", "memory"}); !r) return std::unexpected(r.error());
    auto vcpus = machine.integer("vcpus");
    if (!vcpus) return std::unexpected(vcpus.error());
    if (*vcpus) {
      if (**vcpus < 1 || **vcpus > kMaxConfigVcpus) {
        return machine.bad(*machine.find("vcpus"), "vcpus",
                           fmt::format("{} is out of range 1..{}", **vcpus, kMaxConfigVcpus));
      }
      config.machine.vcpus = static_cast<uint32_t>(**vcpus);
    }
    if (const toml::node* memory = machine.find("memory"); memory != nullptr) {
      uint64_t bytes = 0;
      if (memory->is_integer()) {
        const int64_t value = memory->as_integer()->get();
        if (value < 0) return machine.bad(*memory, "memory", fmt::format("{} is negative", value));
        bytes = static_cast<uint64_t>(value);
      } else if (memory->is_string()) {
        auto size = parse_size(memory->as_string()->get());
        if (!size) return machine.bad(*memory, "memory", size.error().message);
        bytes = *size;
      } else {
        return machine.bad(*memory, "memory",
                           fmt::format("expected a size string or an integer, got {}", type_name(*memory)));
      }
      if (bytes < kMinMemoryBytes || bytes > kMaxMemoryBytes) {
        return machine.bad(*memory, "memory",
                           fmt::format("{} MiB is out of range {} MiB..{} MiB", bytes >> 20,
                                       kMinMemoryBytes >> 20, kMaxMemoryBytes >> 20));
      }
      if (bytes % (2ull << 20) != 0) {
        return machine.bad(*memory, "memory", fmt::format("{} bytes is not a multiple of 2 MiB", bytes));
      }
      config.machine.memory_bytes = bytes;
    }
  }

  // [boot]
  auto boot_table = root.table("boot", true);
  if (!boot_table) return std::unexpected(boot_table.error());
  const TableReader boot(**boot_table, "boot.", file);
  if (auto r = boot.only({"kernel", "initrd", "cmdline"}); !r) return std::unexpected(r.error());
  auto cmdline = boot.string("cmdline");
  if (!cmdline) return std::unexpected(cmdline.error());
  config.boot.cmdline = cmdline->value_or("");
  if (config.boot.cmdline.size() >= kMaxCmdlineBytes) {
    return boot.bad(*boot.find("cmdline"), "cmdline",
                    fmt::format("{} bytes is longer than the {} the kernel accepts",
                                config.boot.cmdline.size(), kMaxCmdlineBytes - 1));
  }
  auto kernel = boot.string("kernel");
  if (!kernel) return std::unexpected(kernel.error());
  if (!*kernel) {
    return fail(ExitCode::kBadConfig, fmt::format("{}: boot.kernel: missing key", boot.where()));
  }
  auto initrd = boot.string("initrd");
  if (!initrd) return std::unexpected(initrd.error());

  // [console]
  auto console_table = root.table("console", false);
  if (!console_table) return std::unexpected(console_table.error());
  if (*console_table != nullptr) {
    const TableReader console(**console_table, "console.", file);
    if (auto r = console.only({"mode"}); !r) return std::unexpected(r.error());
    auto mode = choice<ConsoleMode>(console, "mode",
                                    {{"stdio", ConsoleMode::kStdio}, {"none", ConsoleMode::kNone}});
    if (!mode) return std::unexpected(mode.error());
    config.console.mode = mode->value_or(ConsoleMode::kStdio);
  }

  // Files last: every syntax and value error is reported before a missing file is.
  auto kernel_path = readable_file(boot, "kernel", **kernel, folder);
  if (!kernel_path) return std::unexpected(kernel_path.error());
  config.boot.kernel = *kernel_path;
  if (*initrd) {
    auto initrd_path = readable_file(boot, "initrd", **initrd, folder);
    if (!initrd_path) return std::unexpected(initrd_path.error());
    config.boot.initrd = *initrd_path;
  }
  return config;
}

Result<Config> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(ExitCode::kBadConfig, fmt::format("{}: cannot read: {}", file.string(), strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return fail(ExitCode::kBadConfig, fmt::format("{}: cannot read: {}", file.string(), strerror(errno)));
  }
  return parse_config(text.str(), file);
}

}  // namespace petrel

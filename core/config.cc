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
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "core/unique_fd.h"

namespace petrel {

namespace {

// Guest RAM comes in 2 MiB units so the host can back it with huge pages.
constexpr uint64_t kMemoryAlignment = 2ull << 20;
// A config is a few hundred bytes; the cap keeps `petrel check /dev/zero` from reading forever.
constexpr size_t kMaxConfigFileBytes = 1 << 20;

constexpr std::array<std::string_view, 5> kTopLevelKeys = {"name", "on_reset", "machine", "boot",
                                                           "console"};
constexpr std::array<std::string_view, 2> kMachineKeys = {"vcpus", "memory"};
constexpr std::array<std::string_view, 3> kBootKeys = {"kernel", "initrd", "cmdline"};
constexpr std::array<std::string_view, 1> kConsoleKeys = {"mode"};

constexpr std::array<std::pair<std::string_view, std::span<const std::string_view>>, 3> kSections =
    {{{"machine", kMachineKeys}, {"boot", kBootKeys}, {"console", kConsoleKeys}}};

// Control characters become escapes: TOML strings and keys may hold newlines, and every
// message must stay on one line.
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

// A value the user wrote, as a message shows it: quoted, escaped and cut short.
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

// "file:line:column"; toml++ leaves 0 where it knows no position.
std::string position(std::string_view file, const toml::source_region& region) {
  return fmt::format("{}:{}:{}", file, std::max<toml::source_index>(region.begin.line, 1),
                     std::max<toml::source_index>(region.begin.column, 1));
}

std::unexpected<Error> bad_config(std::string_view file, const toml::source_region& region,
                                  std::string_view key, std::string_view message) {
  return fail(ExitCode::kBadConfig,
              fmt::format("{}: {}: {}", position(file, region), key, message));
}

// One table of the document: reads its keys by type and names them in errors by their
// dotted path ("machine.vcpus").
class Section {
 public:
  // `file` is the config's name as messages show it.
  Section(const std::string& file, const toml::table& table, std::string prefix)
      : file_(&file), table_(&table), prefix_(std::move(prefix)) {}

  const std::string& file() const { return *file_; }
  std::string name(std::string_view key) const { return prefix_ + printable(key); }
  const toml::node* find(std::string_view key) const { return table_->get(key); }
  std::string at(std::string_view key) const { return position(*file_, find(key)->source()); }

  // For a key that is present: the error names its value's position.
  std::unexpected<Error> bad(std::string_view key, std::string_view message) const {
    return bad_config(*file_, find(key)->source(), name(key), message);
  }

  std::unexpected<Error> wrong_type(std::string_view key, std::string_view expected) const {
    return bad(key, fmt::format("expected {}, got {}", expected, type_name(*find(key))));
  }

  // For a key that is absent: the error names the table's position.
  std::unexpected<Error> missing(std::string_view key, std::string_view what) const {
    return bad_config(*file_, table_->source(), name(key),
                      fmt::format("missing required {}", what));
  }

  // T is std::string or int64_t; `expected` names it in messages ("an integer").
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

  Result<std::optional<Section>> section(std::string_view key, bool required) const {
    const toml::node* node = find(key);
    if (node == nullptr) {
      if (required) return missing(key, fmt::format("table [{}]", name(key)));
      return std::nullopt;
    }
    if (!node->is_table()) return wrong_type(key, "a table");
    return Section(*file_, *node->as_table(), name(key) + ".");
  }

 private:
  const std::string* file_;
  const toml::table* table_;
  std::string prefix_;
};

// A string from a fixed set of words, as its enum value.
template <typename Enum>
Result<std::optional<Enum>> choice(const Section& section, std::string_view key,
                                   std::initializer_list<std::pair<std::string_view, Enum>> words) {
  auto text = section.string(key);
  if (!text) return std::unexpected(text.error());
  if (!*text) return std::nullopt;
  std::string allowed;
  for (const auto& [word, value] : words) {
    if (**text == word) return value;
    allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : " or ", word);
  }
  return section.bad(key, fmt::format("{} is not {}", quote_value(**text), allowed));
}

// Unknown keys are searched for in the whole document before anything else is read, so a
// misspelt required key is reported as the typo it is, not as missing. The earliest one in
// the file wins; toml++ iterates tables in key order, not file order.
struct UnknownKey {
  std::string name;
  toml::source_region where;
  bool is_table = false;
  std::span<const std::string_view> known;
};

void find_unknown_keys(const toml::table& table, std::string_view prefix,
                       std::span<const std::string_view> known, std::optional<UnknownKey>& first) {
  for (const auto& [key, node] : table) {
    if (std::ranges::find(known, key.str()) != known.end()) continue;
    if (first && !(key.source().begin < first->where.begin)) continue;
    first = UnknownKey{fmt::format("{}{}", prefix, printable(key.str())), key.source(),
                       node.is_table(), known};
  }
}

std::optional<Error> first_unknown_key(const std::string& file, const toml::table& document) {
  std::optional<UnknownKey> first;
  find_unknown_keys(document, "", kTopLevelKeys, first);
  for (const auto& [name, keys] : kSections) {
    if (const toml::table* table = document.get_as<toml::table>(name)) {
      find_unknown_keys(*table, fmt::format("{}.", name), keys, first);
    }
  }
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
  auto name = root.string("name");
  if (!name) return std::unexpected(name.error());
  if (*name) {
    if (!valid_name(**name)) {
      return root.bad("name",
                      fmt::format("{} is not a valid name ({})", quote_value(**name), kNameRule));
    }
    config.name = **name;
  } else {
    config.name = source.stem().string();
    if (!valid_name(config.name)) {
      return fail(
          ExitCode::kBadConfig,
          fmt::format("{}:1:1: name: the file name gives {}, not a valid name ({}); set name",
                      root.file(), quote_value(config.name), kNameRule));
    }
  }
  auto on_reset =
      choice<OnReset>(root, "on_reset", {{"exit", OnReset::kExit}, {"restart", OnReset::kRestart}});
  if (!on_reset) return std::unexpected(on_reset.error());
  config.on_reset = on_reset->value_or(OnReset::kExit);
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
  auto section = root.section("machine", false);
  if (!section) return std::unexpected(section.error());
  if (!*section) return {};
  const Section& table = **section;
  auto vcpus = table.get<int64_t>("vcpus", "an integer");
  if (!vcpus) return std::unexpected(vcpus.error());
  if (*vcpus) {
    if (**vcpus < 1 || **vcpus > kMaxConfigVcpus) {
      return table.bad("vcpus", fmt::format("{} is out of range 1..{}", **vcpus, kMaxConfigVcpus));
    }
    machine.vcpus = static_cast<uint32_t>(**vcpus);
  }
  if (table.find("memory") != nullptr) {
    auto memory = read_memory(table);
    if (!memory) return std::unexpected(memory.error());
    machine.memory_bytes = *memory;
  }
  return {};
}

Result<> read_console(const Section& root, Config::Console& console) {
  auto section = root.section("console", false);
  if (!section) return std::unexpected(section.error());
  if (!*section) return {};
  auto mode = choice<ConsoleMode>(**section, "mode",
                                  {{"stdio", ConsoleMode::kStdio}, {"none", ConsoleMode::kNone}});
  if (!mode) return std::unexpected(mode.error());
  console.mode = mode->value_or(ConsoleMode::kStdio);
  return {};
}

// Relative to the config file's folder, not the working directory, so a config means the
// same files wherever petrel is started from.
Result<std::optional<std::filesystem::path>> read_path(const Section& boot, std::string_view key,
                                                       const std::filesystem::path& source) {
  auto text = boot.string(key);
  if (!text) return std::unexpected(text.error());
  if (!*text) return std::nullopt;
  if ((*text)->empty()) return boot.bad(key, "empty path");
  // The kernel's open() would stop at the NUL and read some other file.
  if ((*text)->find('\0') != std::string::npos) {
    return boot.bad(key, fmt::format("{} contains a NUL character", quote_value(**text)));
  }
  std::error_code error;
  const std::filesystem::path path =
      std::filesystem::absolute(source.parent_path() / **text, error);
  if (error) return boot.bad(key, fmt::format("{}: {}", quote_value(**text), error.message()));
  return path.lexically_normal();
}

// Checked now rather than at load time so that `petrel check` catches a bad path and `run`
// fails before any VM exists.
Result<> check_readable_file(const Section& boot, std::string_view key,
                             const std::filesystem::path& path) {
  auto failure = [&](std::string_view why) {
    return fail(
        ExitCode::kKernelLoadFailure,
        fmt::format("{}: {}: {}: {}", boot.at(key), boot.name(key), printable(path.string()), why));
  };
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error) return failure(error.message());
  if (!std::filesystem::is_regular_file(status)) return failure("not a regular file");
  // open() rather than access(): it answers for the effective user, who reads the file later.
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return failure(std::strerror(errno));
  return {};
}

// Every value is validated before the files are looked at, so one run reports a config
// mistake before a missing kernel.
Result<> read_boot(const Section& root, const std::filesystem::path& source, Config::Boot& boot) {
  auto section = root.section("boot", true);
  if (!section) return std::unexpected(section.error());
  const Section& table = **section;

  auto cmdline = table.string("cmdline");
  if (!cmdline) return std::unexpected(cmdline.error());
  boot.cmdline = cmdline->value_or("");
  if (boot.cmdline.find('\0') != std::string::npos) {
    return table.bad("cmdline", "contains a NUL character");
  }
  if (boot.cmdline.size() >= kMaxCmdlineBytes) {
    return table.bad("cmdline", fmt::format("{} bytes is longer than the {} the kernel accepts",
                                            boot.cmdline.size(), kMaxCmdlineBytes - 1));
  }

  auto kernel = read_path(table, "kernel", source);
  if (!kernel) return std::unexpected(kernel.error());
  if (!*kernel) return table.missing("kernel", "key");
  auto initrd = read_path(table, "initrd", source);
  if (!initrd) return std::unexpected(initrd.error());

  if (auto readable = check_readable_file(table, "kernel", **kernel); !readable) return readable;
  if (*initrd) {
    if (auto readable = check_readable_file(table, "initrd", **initrd); !readable) return readable;
  }
  boot.kernel = **kernel;
  boot.initrd = *initrd;
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

Result<Config> parse_config(std::string_view text, const std::filesystem::path& source) {
  const std::string source_name = source.string();
  const std::string file = printable(source_name);
  toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return fail(ExitCode::kBadConfig, fmt::format("{}: {}", position(file, error.source()),
                                                  printable(error.description())));
  }
  const toml::table& document = parsed.table();
  if (auto unknown = first_unknown_key(file, document)) return std::unexpected(*unknown);

  const Section root(file, document, "");
  Config config;
  config.source = source;
  if (auto read = read_top_level(root, source, config); !read) return std::unexpected(read.error());
  if (auto read = read_machine(root, config.machine); !read) return std::unexpected(read.error());
  if (auto read = read_console(root, config.console); !read) return std::unexpected(read.error());
  // [boot] last: it is the one that looks at files.
  if (auto read = read_boot(root, source, config.boot); !read) return std::unexpected(read.error());
  return config;
}

Result<Config> load_config(const std::filesystem::path& file) {
  auto text = read_config_file(file);
  if (!text) return std::unexpected(text.error());
  return parse_config(*text, file);
}

}  // namespace petrel

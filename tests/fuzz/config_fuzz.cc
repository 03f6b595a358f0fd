// libFuzzer target for the TOML config loader with command-line overrides (core/config.cc,
// core/config_overrides.cc, core/config_devices.cc): any text, any `--set` keys and values,
// from a file, from memory or in quick mode. Besides crashes and sanitizer reports, a
// finding is an error message of more than one line or with another exit code than a config
// can end in, or a config accepted with a value outside the limits core/config.h states.
//
// Paths in a config are resolved and the files they name are looked at (stat, and open()
// without O_CREAT or O_TRUNC of regular files and block devices). To keep that inside a
// private folder, inputs holding a '/' (or a TOML escape of one) are rejected, and every
// call runs with that folder as the working directory. See tests/fuzz/README.md.

#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "devices/registry.h"
#include "devices/virtio_block.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_net.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;

constexpr size_t kMaxOverrides = 16;

const std::filesystem::path& private_dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "config-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) fuzz::finding("mkdtemp failed");
    return std::filesystem::path(pattern);
  }();
  return dir;
}

void remove_private_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(private_dir(), ignored);
}

// The files configs name in the seeds, so that paths also resolve to something usable.
void populate_private_dir() {
  const auto& dir = private_dir();
  for (const char* name : {"Image", "initrd.img", "disk.img", "data.img", "console.log"}) {
    std::ofstream(dir / name, std::ios::binary) << std::string(4096, '\0');
  }
  std::filesystem::create_directory(dir / "src");
  std::filesystem::create_directory(dir / "Image.d");
}

// Whether a TOML escape at `text` (just after a backslash) stands for '/'.
bool escapes_slash(std::string_view text) {
  if (text.empty() || (text[0] != 'u' && text[0] != 'U' && text[0] != 'x')) return false;
  uint32_t value = 0;
  for (size_t i = 1; i < text.size() && i <= 8; ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    if (c >= '0' && c <= '9') {
      value = value * 16 + static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      value = value * 16 + static_cast<uint32_t>(c - 'a' + 10);
    } else {
      break;
    }
    if (value == '/') return true;
  }
  return false;
}

bool may_leave_private_dir(std::string_view input) {
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '/') return true;
    if (input[i] == '\\' && escapes_slash(input.substr(i + 1))) return true;
  }
  return false;
}

bool is_absolute_and_normal(const std::filesystem::path& path) {
  return path.is_absolute() && path == path.lexically_normal();
}

void check_config(const Config& config) {
  PETREL_FUZZ_CHECK(!config.name.empty() && config.name.size() <= 64);
  PETREL_FUZZ_CHECK(config.machine.vcpus >= 1 && config.machine.vcpus <= kMaxConfigVcpus);
  PETREL_FUZZ_CHECK(config.machine.memory_bytes >= kMinMemoryBytes &&
                    config.machine.memory_bytes <= kMaxMemoryBytes &&
                    config.machine.memory_bytes % (2ull << 20) == 0);
  PETREL_FUZZ_CHECK(config.boot.cmdline.size() < kMaxCmdlineBytes);
  PETREL_FUZZ_CHECK(config.boot.cmdline.find('\0') == std::string::npos);
  PETREL_FUZZ_CHECK(is_absolute_and_normal(config.boot.kernel));
  if (config.boot.initrd) PETREL_FUZZ_CHECK(is_absolute_and_normal(*config.boot.initrd));
  if (config.console.log) PETREL_FUZZ_CHECK(is_absolute_and_normal(*config.console.log));
  const auto drives = config.settings_of<virtio::DriveConfig>();
  PETREL_FUZZ_CHECK(drives.size() <= virtio::kMaxDrives);
  for (const auto& drive : drives) {
    PETREL_FUZZ_CHECK(is_absolute_and_normal(drive.path));
    PETREL_FUZZ_CHECK(drive.id.size() <= virtio::kMaxDriveIdBytes);
  }
  const auto nets = config.settings_of<virtio::NetConfig>();
  PETREL_FUZZ_CHECK(nets.size() <= virtio::kMaxNets);
  for (const auto& net : nets) {
    PETREL_FUZZ_CHECK(!net.tap.empty() && net.tap.size() <= virtio::kMaxTapNameBytes);
  }
  const auto shares = config.settings_of<virtio::ShareConfig>();
  PETREL_FUZZ_CHECK(shares.size() <= virtio::kMaxShares);
  for (size_t i = 0; i < shares.size(); ++i) {
    const auto& share = shares[i];
    PETREL_FUZZ_CHECK(!share.tag.empty() && share.tag.size() <= virtio::kMaxShareTagBytes);
    PETREL_FUZZ_CHECK(is_absolute_and_normal(share.path));
    if (share.socket) PETREL_FUZZ_CHECK(is_absolute_and_normal(*share.socket));
    for (size_t j = 0; j < i; ++j) PETREL_FUZZ_CHECK(shares[j].tag != share.tag);
  }
}

void check_error(const Error& error) {
  PETREL_FUZZ_CHECK(error.code == ExitCode::kBadConfig ||
                    error.code == ExitCode::kKernelLoadFailure ||
                    error.code == ExitCode::kDeviceInitializationFailure);
  PETREL_FUZZ_CHECK(!error.message.empty());
  PETREL_FUZZ_CHECK(error.message.find('\n') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  populate_private_dir();
  std::atexit(remove_private_dir);
  return 0;
}

// Input: one byte of mode (low 2 bits: 0 or 3 parse_config() of text in memory, 1 quick
// mode (config_from_overrides(), the text unused), 2 load_config() of the text written to a
// file), then the config text up to the first NUL byte, then overrides separated by NUL
// bytes, each "FKEY=VALUE" where F is 's' for a string value (a path flag), 'a' for one
// appended to the key's string (kernel arguments after `--`), and anything else for a value
// read as TOML if it parses (`--set`).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (may_leave_private_dir(input)) return -1;  // keeps it out of the corpus too
  const int mode = data[0] & 3;

  const size_t text_end = std::min(input.find('\0'), input.size());
  const std::string_view text = input.substr(0, text_end);
  std::vector<ConfigOverride> overrides;
  for (size_t at = text_end; at < input.size() && overrides.size() < kMaxOverrides;) {
    const size_t next = std::min(input.find('\0', at + 1), input.size());
    const std::string_view entry = input.substr(at + 1, next - at - 1);
    at = next;
    if (entry.empty()) continue;
    const std::string_view body = entry.substr(1);
    const size_t equals = body.find('=');
    ConfigOverride key;
    key.origin = fmt::format("--set {}", body);
    key.key = std::string(body.substr(0, equals));
    key.value = equals == std::string_view::npos ? "" : std::string(body.substr(equals + 1));
    key.form = entry[0] == 's'   ? ConfigOverride::Form::kString
               : entry[0] == 'a' ? ConfigOverride::Form::kAppend
                                 : ConfigOverride::Form::kGuess;
    overrides.push_back(std::move(key));
  }

  // Relative paths from the command line start at the working directory.
  const int saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (saved_cwd < 0 || chdir(private_dir().c_str()) != 0) fuzz::finding("cannot change folder");
  const std::filesystem::path source = private_dir() / "guest.toml";
  Result<Config> config;
  if (mode == 1) {
    config = config_from_overrides(device_kinds(), overrides);
  } else if (mode == 2) {
    std::ofstream(source, std::ios::binary | std::ios::trunc) << text;
    config = load_config(device_kinds(), source, overrides);
  } else {
    config = parse_config(device_kinds(), text, source, overrides);
  }
  if (fchdir(saved_cwd) != 0) fuzz::finding("cannot change back");
  close(saved_cwd);

  if (config) {
    check_config(*config);
  } else {
    check_error(config.error());
  }
  return 0;
}

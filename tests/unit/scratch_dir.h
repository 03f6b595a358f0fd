#pragma once

// A private folder for tests that need real files (configs, kernels), removed afterwards.

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/config.h"
#include "devices/registry.h"
#include "devices/virtio_block.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_net.h"

namespace petrel::testing {

class ScratchDir {
 public:
  // Holds a kernel "Image" and an "initrd.img", as most configs want.
  ScratchDir() {
    // mkdtemp, not a pid-based name: unique even for two ScratchDirs in one test.
    std::string pattern = (std::filesystem::temp_directory_path() / "petrel-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    write("Image", "kernel");
    write("initrd.img", "initrd");
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path operator/(const std::filesystem::path& relative) const {
    return dir_ / relative;
  }

  // Writes `text` to a file under the folder, making its parent folders.
  std::filesystem::path write(const std::filesystem::path& relative, std::string_view text) const {
    const std::filesystem::path path = dir_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Parses `text` as if it were the file `name` in this folder (which need not exist).
  Result<Config> parse(std::string_view text, std::string_view name = "guest.toml") const {
    return parse_config(device_kinds(), text, dir_ / name);
  }

  // The start of every message about parse()'s default file.
  std::string file() const { return (dir_ / "guest.toml").string(); }

 private:
  std::filesystem::path dir_;
};

// Changes the working directory for one test and restores it.
class WorkingDir {
 public:
  explicit WorkingDir(const std::filesystem::path& dir) : saved_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~WorkingDir() {
    std::error_code ignored;
    std::filesystem::current_path(saved_, ignored);
  }
  WorkingDir(const WorkingDir&) = delete;
  WorkingDir& operator=(const WorkingDir&) = delete;

 private:
  std::filesystem::path saved_;
};

// The error of a result that must have failed, after checking its code and that its message
// is one line.
inline Error expect_error(const Result<Config>& result, ExitCode code) {
  REQUIRE_FALSE(result.has_value());
  CHECK(exit_code_name(result.error().code) == exit_code_name(code));
  CHECK(result.error().message.find('\n') == std::string::npos);
  return result.error();
}

// The scratch folder's path, which starts every message, shown as "<dir>".
inline std::string with_dir_hidden(const ScratchDir& scratch, std::string message) {
  const std::string dir = scratch.dir().string();
  for (size_t at = message.find(dir); at != std::string::npos; at = message.find(dir, at)) {
    message.replace(at, dir.size(), "<dir>");
  }
  return message;
}

// The message for `text` in <dir>/guest.toml, which must fail with `code`.
inline std::string message_for(const ScratchDir& scratch, const std::string& text,
                               ExitCode code = ExitCode::kBadConfig) {
  return with_dir_hidden(scratch, expect_error(scratch.parse(text), code).message);
}

// The settings of each configured device of a kind, in order.
inline std::vector<virtio::DriveConfig> drives(const Config& config) {
  return config.settings_of<virtio::DriveConfig>();
}
inline std::vector<virtio::NetConfig> nets(const Config& config) {
  return config.settings_of<virtio::NetConfig>();
}
inline std::vector<virtio::ShareConfig> shares(const Config& config) {
  return config.settings_of<virtio::ShareConfig>();
}

}  // namespace petrel::testing

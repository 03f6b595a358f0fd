#pragma once

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel {

// One running guest per name: an advisory lock on <runtime dir>/<name>.lock. The kernel
// drops it when the process ends however it ends, so a crash never leaves it stale.
class InstanceLock {
 public:
  // ALREADY_RUNNING when another process holds the name; an unusable runtime folder is
  // GUEST_INITIALIZATION_FAILURE.
  static Result<InstanceLock> acquire(const std::filesystem::path& runtime_dir,
                                      const std::string& name);

  const std::filesystem::path& path() const { return path_; }

 private:
  InstanceLock(UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::filesystem::path path_;
};

// $XDG_RUNTIME_DIR/petrel, or /run/petrel for root, or /tmp/petrel-<uid>.
std::filesystem::path default_runtime_dir();

}  // namespace petrel

#pragma once

#include <expected>
#include <string>
#include <utility>

#include "core/exit_code.h"

namespace petrel {

// The one error type that crosses module boundaries: the exit code it ends in and a
// one-line message that names the file, key or value at fault.
struct Error {
  ExitCode code = ExitCode::kInternalError;
  std::string message;
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ExitCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace petrel

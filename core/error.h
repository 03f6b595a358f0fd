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

// TRY(expr): the one way to pass an error up, like Rust's `?`. Evaluates `expr`, a
// std::expected; on error returns that error from the enclosing function (which returns a
// Result of any value type), otherwise yields the value (nothing for Result<>):
//   auto image = TRY(inspect_kernel(path));
//   TRY(bus.add(device));
// A GNU statement expression (g++ and clang): no temporary names or early-return
// boilerplate at the call site.
#define TRY(...)                                                    \
  ({                                                                \
    auto&& petrel_try_result = (__VA_ARGS__);                       \
    if (!petrel_try_result) {                                       \
      return std::unexpected(std::move(petrel_try_result).error()); \
    }                                                               \
    std::move(petrel_try_result).value();                           \
  })

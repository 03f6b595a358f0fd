#pragma once

#include <string_view>

namespace petrel {

// petrel's version, as `petrel --version` and the control socket's GET / show it. Keep it
// equal to project(VERSION) in CMakeLists.txt.
inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace petrel

// The one translation unit that compiles toml++'s implementation; everything else sees
// its declarations only (TOML_HEADER_ONLY=0), which keeps builds fast.
#define TOML_IMPLEMENTATION
// toml++ 3.3's parser asserts preconditions that malformed input breaks (a table header
// such as "[&", marzer/tomlplusplus#294): an abort in builds without NDEBUG, and under
// clang with NDEBUG a __builtin_assume, so undefined behaviour. Without the checks it goes
// on as in gcc release builds, where they are empty: "[&" is a parse error.
#include <toml++/impl/preprocessor.h>
#undef TOML_ASSERT_ASSUME
#define TOML_ASSERT_ASSUME(expr) static_cast<void>(0)
#include <toml++/toml.h>

// Inputs the fuzz targets (tests/fuzz/) found to crash or misbehave, kept as unit tests so
// the sanitizer builds (scripts/sanitize-and-fuzz.sh) check them on every run.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

namespace petrel {
namespace {

using testing::expect_error;
using testing::ScratchDir;

// config_fuzz: toml++ 3.3 asserted (and, under clang with NDEBUG, assumed) that a table
// header's name starts like a key; core/toml_impl.cc turns the check off.
TEST_CASE("config: a table header whose name is no key is a parse error", "[config][fuzz]") {
  ScratchDir scratch;
  const std::string text = GENERATE(as<std::string>{}, "[&", "[ \x1bnet]]\n", "[[&]]", "[[[1]]]",
                                    "[[=", "[boot]\nkernel = \"Image\"\n[&x]\n");
  INFO(text);
  const Error error = expect_error(scratch.parse(text), ExitCode::kBadConfig);
  CHECK_THAT(error.message, Catch::Contains("expected bare key starting character"));

  // The same through an override's value, which is parsed on its own.
  const std::vector<ConfigOverride> overrides = {
      {"--set machine.vcpus", "machine.vcpus", "1\n" + text, ConfigOverride::Form::kGuess}};
  expect_error(parse_config("[boot]\nkernel = \"Image\"\n", scratch / "guest.toml", overrides),
               ExitCode::kBadConfig);
}

// config_fuzz: toml++ 3.3 reached __builtin_unreachable() asking whether most non-ASCII
// characters are whitespace; core/toml_impl.cc gives its parser a correct answer.
TEST_CASE("config: a non-ASCII character where whitespace may be is an error or text",
          "[config][fuzz]") {
  ScratchDir scratch;
  const std::string text = GENERATE(as<std::string>{}, "kernmode=\xc3\x91o", "\xcc\xaa",
                                    "[boot]\nkernel = \xef\xbc\xa1\n", "a = 1\xe3\x80\x80\n");
  INFO(text);
  expect_error(scratch.parse(text), ExitCode::kBadConfig);

  // After a line-ending backslash in a multi-line string, whitespace is trimmed up to them.
  auto config = scratch.parse(
      "[boot]\nkernel = \"Image\"\ncmdline = \"\"\"quiet \\\n  \xc2\xa7 \xc3\x91\"\"\"\n");
  REQUIRE(config.has_value());
  CHECK(config->boot.cmdline == "quiet \xc2\xa7 \xc3\x91");
}

}  // namespace
}  // namespace petrel

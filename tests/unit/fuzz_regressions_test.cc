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

}  // namespace
}  // namespace petrel

// Inputs the fuzz targets (tests/fuzz/) found to crash or misbehave, kept as unit tests so
// the sanitizer builds (scripts/sanitize-and-fuzz.sh) check them on every run.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "arch/arm64/image.h"
#include "core/config.h"
#include "devices/registry.h"
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
  expect_error(parse_config(device_kinds(), "[boot]\nkernel = \"Image\"\n", scratch / "guest.toml",
                            overrides),
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

// image_fuzz: `petrel check` compared an Image.gz's decompressed size with its image_size
// only after reading past the header, so a stream that ends with its header got through.
TEST_CASE("image.gz: a stream that is its header alone is checked against image_size",
          "[image][gzip][fuzz]") {
  ScratchDir scratch;
  arm64::ImageHeader header{};
  header.image_size = GENERATE(1u, 63u);
  header.magic = arm64::kImageMagic;
  std::vector<uint8_t> gz(128);
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  stream.next_in = reinterpret_cast<uint8_t*>(&header);
  stream.avail_in = sizeof(header);
  stream.next_out = gz.data();
  stream.avail_out = static_cast<uInt>(gz.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  gz.resize(stream.total_out);
  deflateEnd(&stream);
  const auto path = scratch.write("Image.gz", std::string(gz.begin(), gz.end()));

  auto whole = arm64::inspect_kernel(path, arm64::KernelCheck::kWhole);
  REQUIRE_FALSE(whole.has_value());
  CHECK(whole.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(whole.error().message, Catch::Contains("decompresses to more than the"));
}

}  // namespace
}  // namespace petrel

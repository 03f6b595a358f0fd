// [api] in the config and --api-sock: the control socket's path, "none", and a path longer
// than a socket address holds.
#include <catch2/catch.hpp>
#include <string>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

using namespace petrel;
using petrel::testing::ScratchDir;

TEST_CASE("config: [api] socket, \"none\", and --api-sock") {
  ScratchDir scratch;
  const std::string boot = "[boot]\nkernel = \"Image\"\n";
  auto config = scratch.parse(boot);
  REQUIRE(config);
  CHECK(config->api.enabled);
  CHECK_FALSE(config->api.socket);

  config = scratch.parse(boot + "[api]\nsocket = \"none\"\n");
  REQUIRE(config);
  CHECK_FALSE(config->api.enabled);

  config = scratch.parse(boot + "[api]\nsocket = \"run/g.sock\"\n");
  REQUIRE(config);
  CHECK(config->api.socket == scratch / "run/g.sock");  // from the config file's folder

  const std::string long_path = "/" + std::string(107, 'x');
  auto too_long = scratch.parse(boot + "[api]\nsocket = \"" + long_path + "\"\n");
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().code == ExitCode::kBadConfig);
  CHECK_THAT(too_long.error().message,
             Catch::Contains(":4:10: api.socket: ") &&
                 Catch::Contains("is 108 bytes long; a Unix socket path holds at most 107"));

  const ConfigOverride flag{"--api-sock " + long_path, "api.socket", long_path,
                            ConfigOverride::Form::kString};
  auto from_flag = parse_config(device_kinds(), boot, scratch / "guest.toml", {&flag, 1});
  REQUIRE_FALSE(from_flag);
  CHECK_THAT(from_flag.error().message,
             Catch::StartsWith("--api-sock /xxx") && Catch::Contains("api.socket: "));

  auto wrong = scratch.parse(boot + "[api]\nsocket = 1\nport = 2\n");
  REQUIRE_FALSE(wrong);
  CHECK_THAT(wrong.error().message, Catch::Contains("api.port: unknown key; known here: socket"));
}

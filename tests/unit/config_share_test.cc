// [[share]]: host folders for virtio-fs, on good and bad input.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

using namespace petrel;
using namespace petrel::testing;
using petrel::testing::message_for;
using petrel::testing::ScratchDir;
namespace fs = std::filesystem;

namespace {

// Two lines, so a [[share]] that follows starts on line 3.
const std::string kBoot = "[boot]\nkernel = \"Image\"\n";

std::string share_with(const std::string& lines) { return "[[share]]\n" + lines + "\n"; }

Config parse_ok(const ScratchDir& scratch, const std::string& text) {
  auto config = scratch.parse(kBoot + text);
  if (!config) FAIL(config.error().message);
  return *config;
}

std::string bad(const ScratchDir& scratch, const std::string& text) {
  return message_for(scratch, kBoot + text);
}

}  // namespace

TEST_CASE("config share: none unless asked for") {
  ScratchDir scratch;
  CHECK(shares(parse_ok(scratch, "")).empty());
  CHECK(shares(*scratch.parse("share = []\n" + kBoot)).empty());
}

TEST_CASE("config share: a folder with a tag, writable, served by a virtiofsd petrel starts") {
  ScratchDir scratch;
  fs::create_directories(scratch / "data");
  const Config config = parse_ok(scratch, share_with("path = \"data\"\ntag = \"hostdata\""));
  REQUIRE(shares(config).size() == 1);
  CHECK(shares(config)[0].path == scratch / "data");
  CHECK(shares(config)[0].tag == "hostdata");
  CHECK_FALSE(shares(config)[0].read_only);
  CHECK_FALSE(shares(config)[0].socket);
}

TEST_CASE("config share: several shares keep their order and keys") {
  ScratchDir scratch;
  fs::create_directories(scratch / "a");
  const std::string tag36(36, 't');
  const Config config =
      parse_ok(scratch, share_with("path = \"a\"\ntag = \"" + tag36 + "\"\nread_only = true") +
                            share_with("socket = \"/run/vfs.sock\"\ntag = \"b\""));
  REQUIRE(shares(config).size() == 2);
  CHECK(shares(config)[0].tag == tag36);
  CHECK(shares(config)[0].read_only);
  CHECK(shares(config)[1].path.empty());
  CHECK(shares(config)[1].socket == fs::path("/run/vfs.sock"));
  CHECK_FALSE(shares(config)[1].read_only);
}

TEST_CASE("config share errors: tags") {
  ScratchDir scratch;
  fs::create_directories(scratch / "a");
  const std::string at = "<dir>/guest.toml:5:7: share[0].tag: ";
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"\"")) == at + "empty tag");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"" + std::string(37, 'x') + "\"")) ==
        at + "\"" + std::string(37, 'x') + "\" is 37 bytes, more than the 36 of a virtiofs tag");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"a b\"")) ==
        at + "\"a b\" is not printable ASCII without spaces");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"a\\u0000b\"")) ==
        at + "\"a\\x00b\" is not printable ASCII without spaces");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = 3")) == at + "expected a string, got integer");
  CHECK(bad(scratch, share_with("path = \"a\"")) ==
        "<dir>/guest.toml:3:1: share[0].tag: missing required key");
  CHECK(bad(scratch,
            share_with("path = \"a\"\ntag = \"x\"") + share_with("path = \"a\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:8:7: share[1].tag: \"x\" is already used by share[0]");
}

TEST_CASE("config share errors: path, socket and read_only") {
  ScratchDir scratch;
  CHECK(bad(scratch, share_with("tag = \"x\"")) ==
        "<dir>/guest.toml:3:1: share[0].path: missing required key");
  CHECK(bad(scratch, share_with("path = \"\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:4:8: share[0].path: empty path");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"x\"\nread_only = \"yes\"")) ==
        "<dir>/guest.toml:6:13: share[0].read_only: expected a boolean, got string");
  CHECK(bad(scratch, share_with("socket = \"s\"\npath = \"a\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:5:8: share[0].path: not with socket: that virtiofsd chose its folder");
  CHECK(bad(scratch, share_with("socket = \"s\"\nread_only = true\ntag = \"x\"")) ==
        "<dir>/guest.toml:5:13: share[0].read_only: not with socket: start that virtiofsd on a "
        "read-only folder instead");
  CHECK(bad(scratch, share_with("socket = \"/" + std::string(120, 's') + "\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:4:10: share[0].socket: /" + std::string(120, 's') +
            " is longer than the 107 bytes of a socket path");
  CHECK(bad(scratch, share_with("socket = \"/s\"\ntag = \"x\"") +
                         share_with("socket = \"/s\"\ntag = \"y\"")) ==
        "<dir>/guest.toml:7:10: share[1].socket: /s is already used by share[0]");
  CHECK(bad(scratch, share_with("path = \"a\"\ntag = \"x\"\nro = true")) ==
        "<dir>/guest.toml:6:1: share[0].ro: unknown key; known here: path, tag, read_only, socket");
  std::string nine;
  for (int i = 0; i < 9; ++i)
    nine += share_with("socket = \"/s" + std::to_string(i) + "\"\ntag = \"t" + std::to_string(i) +
                       "\"");
  CHECK(bad(scratch, nine) == "<dir>/guest.toml:27:1: share[8]: more than 8 shares");
}

TEST_CASE(
    "config share errors: a missing folder is DEVICE_INITIALIZATION_FAILURE, after mistakes") {
  ScratchDir scratch;
  scratch.write("file", "");
  auto device_failure = [&](const std::string& text) {
    return message_for(scratch, kBoot + text, ExitCode::kDeviceInitializationFailure);
  };
  CHECK(device_failure(share_with("path = \"gone\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:4:8: share[0].path: <dir>/gone: No such file or directory");
  CHECK(device_failure(share_with("path = \"file\"\ntag = \"x\"")) ==
        "<dir>/guest.toml:4:8: share[0].path: <dir>/file: not a folder");
  // A config mistake in a later entry wins over the missing folder.
  CHECK(bad(scratch, share_with("path = \"gone\"\ntag = \"x\"") + share_with("path = \"gone\"")) ==
        "<dir>/guest.toml:6:1: share[1].tag: missing required key");
}

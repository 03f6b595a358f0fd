// Command-line keys on top of a config file, and quick mode (no file): the same validation,
// messages that name the flag, paths from the working directory.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

using namespace petrel;
using namespace petrel::testing;
using petrel::testing::expect_error;
using petrel::testing::ScratchDir;
using petrel::testing::with_dir_hidden;
using petrel::testing::WorkingDir;
using Form = ConfigOverride::Form;

namespace {

constexpr std::string_view kFile = R"(
name = "file-guest"
[machine]
vcpus = 1
memory = "256M"
[boot]
kernel = "Image"
cmdline = "console=ttyS0"
[[drive]]
path = "disk.img"
)";

ConfigOverride set(std::string key_value) {
  const size_t equals = key_value.find('=');
  return {"--set " + key_value, key_value.substr(0, equals), key_value.substr(equals + 1),
          Form::kGuess};
}

}  // namespace

TEST_CASE("overrides: --set values win over the file's, typed as TOML reads them") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  const std::vector<ConfigOverride> keys = {
      set("machine.vcpus=4"),         set("machine.memory=1G"),
      set("console.mode=none"),       set("rng.enabled=true"),
      set("drive[0].read_only=true"), {"--uart 16550", "console.uart", "16550", Form::kString}};
  auto config = parse_config(device_kinds(), kFile, scratch / "guest.toml", keys);
  REQUIRE(config.has_value());
  CHECK(config->name == "file-guest");
  CHECK(config->machine.vcpus == 4);
  CHECK(config->machine.memory_bytes == (1ull << 30));
  CHECK(config->console.mode == ConsoleMode::kNone);
  CHECK(config->console.uart == ConsoleUartKind::kUart16550);
  CHECK(config->has_device("rng"));
  REQUIRE(drives(*config).size() == 1);
  CHECK(drives(*config)[0].read_only);
  CHECK(drives(*config)[0].path == scratch / "disk.img");  // the file's path, from its folder
}

TEST_CASE("overrides: later keys win, and a new array entry is appended after the file's") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  scratch.write("sub/extra.img", std::string(4096, '\0'));
  WorkingDir cwd(scratch / "sub");
  const std::vector<ConfigOverride> keys = {
      set("machine.vcpus=2"),
      set("machine.vcpus=3"),
      {"--drive extra.img,ro", "drive[]", R"({ path = "extra.img", read_only = true })",
       Form::kGuess}};
  auto config = parse_config(device_kinds(), kFile, scratch / "guest.toml", keys);
  REQUIRE(config.has_value());
  CHECK(config->machine.vcpus == 3);
  REQUIRE(drives(*config).size() == 2);
  // A path typed on the command line is relative to the working directory.
  CHECK(drives(*config)[1].path == scratch / "sub/extra.img");
  CHECK(drives(*config)[1].read_only);
}

TEST_CASE("overrides: kernel arguments after -- are added to the command line") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  const std::vector<ConfigOverride> keys = {
      {"-- quiet panic=-1", "boot.cmdline", "quiet panic=-1", Form::kAppend}};
  auto config = parse_config(device_kinds(), kFile, scratch / "guest.toml", keys);
  REQUIRE(config.has_value());
  CHECK(config->boot.cmdline == "console=ttyS0 quiet panic=-1");
}

TEST_CASE("overrides: a string value is taken as written, quotes and backslashes included") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  const std::string cmdline = R"(init=/bin/sh -c "echo \"hi\"" x=1\n)";
  const std::vector<ConfigOverride> keys = {
      {"--append " + cmdline, "boot.cmdline", cmdline, Form::kString}};
  auto config = parse_config(device_kinds(), kFile, scratch / "guest.toml", keys);
  REQUIRE(config.has_value());
  CHECK(config->boot.cmdline == cmdline);
}

TEST_CASE("overrides: mistakes name the flag, the key and the value") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  auto message = [&](const ConfigOverride& key) {
    const std::vector<ConfigOverride> keys = {key};
    return with_dir_hidden(
        scratch, expect_error(parse_config(device_kinds(), kFile, scratch / "guest.toml", keys),
                              ExitCode::kBadConfig)
                     .message);
  };
  CHECK(message(set("machine.vcpus=0")) ==
        "--set machine.vcpus=0: machine.vcpus: 0 is out of range 1..512");
  CHECK(message({"--vcpus four", "machine.vcpus", "four", Form::kGuess}) ==
        "--vcpus four: machine.vcpus: expected an integer, got string");
  CHECK(message(set("machine.vcpu=2")) ==
        "--set machine.vcpu=2: machine.vcpu: unknown key; known here: vcpus, memory, pmu, "
        "stop_grace");
  CHECK(message({"--uart 8250", "console.uart", "8250", Form::kString}) ==
        "--uart 8250: console.uart: \"8250\" is not \"pl011\" or \"16550\"");
  CHECK(message(set("machine..vcpus=2")) ==
        "--set machine..vcpus=2: machine..vcpus: not a config key (a dotted path such as "
        "machine.vcpus or drive[0].path)");
  CHECK(message(set("name.x=2")) == "--set name.x=2: name.x: name is a string here, not a table");
  CHECK(message(set("drive[3].path=x")) ==
        "--set drive[3].path=x: drive[3].path: there is no table drive[3] (1 entries)");
  CHECK(message({"--drive ,ro", "drive[]", R"({ path = "", read_only = true })", Form::kGuess}) ==
        "--drive ,ro: drive[1].path: empty path");
  CHECK(
      message({"--drive d.img,rw", "drive[]", R"({ path = "d.img", rw = true })", Form::kGuess}) ==
      "--drive d.img,rw: drive[1].rw: unknown key; known here: path, read_only, id");
}

TEST_CASE("overrides: a guessed value cannot smuggle in keys of its own") {
  ScratchDir scratch;
  scratch.write("disk.img", std::string(4096, '\0'));
  const std::vector<ConfigOverride> keys = {set("boot.cmdline=1\nname = \"evil\"")};
  auto config = parse_config(device_kinds(), kFile, scratch / "guest.toml", keys);
  REQUIRE(config.has_value());
  CHECK(config->name == "file-guest");
  CHECK(config->boot.cmdline == "1\nname = \"evil\"");
}

TEST_CASE("quick mode: a guest from flags alone, named by petrel's pid") {
  ScratchDir scratch;
  WorkingDir cwd(scratch.dir());
  const std::vector<ConfigOverride> keys = {
      {"--kernel Image", "boot.kernel", "Image", Form::kString},
      {"--initrd initrd.img", "boot.initrd", "initrd.img", Form::kString},
      {"--vcpus 2", "machine.vcpus", "2", Form::kGuess},
      {"--memory 128M", "machine.memory", "128M", Form::kString},
      {"--test-exit", "test_exit.enabled", "true", Form::kGuess},
      {"-- console=ttyS0", "boot.cmdline", "console=ttyS0", Form::kAppend}};
  auto config = config_from_overrides(device_kinds(), keys);
  REQUIRE(config.has_value());
  CHECK(config->name == "petrel-" + std::to_string(getpid()));
  CHECK(config->boot.kernel == scratch / "Image");
  CHECK(config->boot.initrd == scratch / "initrd.img");
  CHECK(config->boot.cmdline == "console=ttyS0");
  CHECK(config->machine.vcpus == 2);
  CHECK(config->machine.memory_bytes == (128ull << 20));
  CHECK(config->has_device("test_exit"));
}

TEST_CASE("quick mode: --power-button and --stop-grace") {
  ScratchDir scratch;
  WorkingDir cwd(scratch.dir());
  scratch.write("Image", "");
  std::vector<ConfigOverride> keys = {
      {"--kernel Image", "boot.kernel", "Image", Form::kString},
      {"--stop-grace 10s", "machine.stop_grace", "10s", Form::kString}};
  const Error error =
      expect_error(config_from_overrides(device_kinds(), keys), ExitCode::kBadConfig);
  CHECK(error.message ==
        "--stop-grace 10s: machine.stop_grace: a stop grace period needs a power button for the "
        "guest; add [power_button]");
  keys.push_back({"--power-button", "power_button.enabled", "true", Form::kGuess});
  auto config = config_from_overrides(device_kinds(), keys);
  REQUIRE(config.has_value());
  CHECK(config->has_device("power_button"));
  REQUIRE(config->machine.stop_grace);
  CHECK(config->machine.stop_grace->count() == 10'000);
}

TEST_CASE("quick mode: a missing kernel is the same error as in a file, naming the flag") {
  ScratchDir scratch;
  WorkingDir cwd(scratch.dir());
  const std::vector<ConfigOverride> keys = {
      {"--kernel nope", "boot.kernel", "nope", Form::kString}};
  const Error error =
      expect_error(config_from_overrides(device_kinds(), keys), ExitCode::kKernelLoadFailure);
  CHECK(with_dir_hidden(scratch, error.message) ==
        "--kernel nope: boot.kernel: <dir>/nope: No such file or directory");
}

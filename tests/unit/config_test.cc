// The TOML loader: defaults, path resolution, and one precise error per kind of mistake.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"

using namespace petrel;
namespace fs = std::filesystem;

namespace {

// A scratch folder with a kernel and an initrd file, removed afterwards.
struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() / ("petrel-config-test-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "Image") << "kernel";
    std::ofstream(dir / "initrd.img") << "initrd";
  }
  ~Scratch() { fs::remove_all(dir); }
  Result<Config> parse(const std::string& text, const std::string& name = "guest.toml") const {
    return parse_config(text, dir / name);
  }
};

void require_error(const Result<Config>& result, ExitCode code, std::initializer_list<std::string> parts) {
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == code);
  for (const auto& part : parts) CHECK_THAT(result.error().message, Catch::Contains(part));
  CHECK(result.error().message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("a full config is read with paths resolved against its folder") {
  Scratch scratch;
  auto config = scratch.parse(R"(
name = "web-1"
on_reset = "restart"
[machine]
vcpus = 4
memory = "1G"
[boot]
kernel = "Image"
initrd = "./initrd.img"
cmdline = "console=ttyS0"
[console]
mode = "none"
)");
  REQUIRE(config.has_value());
  CHECK(config->name == "web-1");
  CHECK(config->on_reset == OnReset::kRestart);
  CHECK(config->machine.vcpus == 4);
  CHECK(config->machine.memory_bytes == (1ull << 30));
  CHECK(config->boot.kernel == scratch.dir / "Image");
  REQUIRE(config->boot.initrd.has_value());
  CHECK(*config->boot.initrd == scratch.dir / "initrd.img");
  CHECK(config->boot.cmdline == "console=ttyS0");
  CHECK(config->console.mode == ConsoleMode::kNone);
}

TEST_CASE("defaults: one vCPU, 512 MiB, the file stem as name, stdio console") {
  Scratch scratch;
  auto config = scratch.parse("[boot]\nkernel = \"Image\"\n", "my-guest.toml");
  REQUIRE(config.has_value());
  CHECK(config->name == "my-guest");
  CHECK(config->machine.vcpus == 1);
  CHECK(config->machine.memory_bytes == (512ull << 20));
  CHECK(config->console.mode == ConsoleMode::kStdio);
  CHECK(config->on_reset == OnReset::kExit);
  CHECK_FALSE(config->boot.initrd.has_value());
}

TEST_CASE("memory may be a plain byte count") {
  Scratch scratch;
  auto config = scratch.parse("[machine]\nmemory = 134217728\n[boot]\nkernel = \"Image\"\n");
  REQUIRE(config.has_value());
  CHECK(config->machine.memory_bytes == (128ull << 20));
}

TEST_CASE("mistakes are BAD_CONFIG with file:line:column and the key") {
  Scratch scratch;
  const std::string boot = "[boot]\nkernel = \"Image\"\n";
  require_error(scratch.parse("[machine]\nvcpu = 1\n" + boot), ExitCode::kBadConfig,
                {"guest.toml:2:1", "machine.vcpu", "unknown key"});
  require_error(scratch.parse(boot + "[network]\n"), ExitCode::kBadConfig, {"network", "unknown key"});
  require_error(scratch.parse("[machine]\nvcpus = \"two\"\n" + boot), ExitCode::kBadConfig,
                {"guest.toml:2:", "machine.vcpus", "expected an integer, got string"});
  require_error(scratch.parse("[machine]\nvcpus = 0\n" + boot), ExitCode::kBadConfig,
                {"machine.vcpus", "0 is out of range 1..512"});
  require_error(scratch.parse("[machine]\nvcpus = 513\n" + boot), ExitCode::kBadConfig, {"513"});
  require_error(scratch.parse("[machine]\nmemory = \"12Q\"\n" + boot), ExitCode::kBadConfig,
                {"machine.memory", "12Q"});
  require_error(scratch.parse("[machine]\nmemory = \"32M\"\n" + boot), ExitCode::kBadConfig,
                {"machine.memory", "out of range"});
  require_error(scratch.parse("[machine]\nmemory = 67109888\n" + boot), ExitCode::kBadConfig,
                {"multiple of 2 MiB"});
  require_error(scratch.parse("[machine]\nvcpus = 1\n"), ExitCode::kBadConfig, {"boot", "missing"});
  require_error(scratch.parse("[boot]\ncmdline = \"x\"\n"), ExitCode::kBadConfig, {"boot.kernel", "missing"});
  require_error(scratch.parse("on_reset = \"again\"\n" + boot), ExitCode::kBadConfig,
                {"on_reset", "\"again\" is not \"exit\" or \"restart\""});
  require_error(scratch.parse("name = \"has space\"\n" + boot), ExitCode::kBadConfig, {"name", "has space"});
  require_error(scratch.parse(boot + "[console]\nmode = \"tty\"\n"), ExitCode::kBadConfig, {"console.mode"});
  require_error(scratch.parse("[boot]\nkernel = \"Image\"\ncmdline = \"" + std::string(2048, 'a') + "\"\n"),
                ExitCode::kBadConfig, {"boot.cmdline", "2047"});
}

TEST_CASE("TOML syntax errors name the position") {
  Scratch scratch;
  require_error(scratch.parse("[machine\nvcpus = 1\n"), ExitCode::kBadConfig, {"guest.toml:1:"});
  require_error(scratch.parse("[boot]\nkernel = \n"), ExitCode::kBadConfig, {"guest.toml:2:"});
}

TEST_CASE("a missing kernel or initrd is KERNEL_LOAD_FAILURE naming the path and key") {
  Scratch scratch;
  require_error(scratch.parse("[boot]\nkernel = \"nope\"\n"), ExitCode::kKernelLoadFailure,
                {"guest.toml:2:", "boot.kernel", (scratch.dir / "nope").string(), "No such file"});
  require_error(scratch.parse("[boot]\nkernel = \"Image\"\ninitrd = \"missing.img\"\n"),
                ExitCode::kKernelLoadFailure, {"boot.initrd", "missing.img"});
  require_error(scratch.parse("[boot]\nkernel = \".\"\n"), ExitCode::kKernelLoadFailure,
                {"not a regular file"});
}

TEST_CASE("an unreadable config file is BAD_CONFIG naming it") {
  auto config = load_config("/nonexistent/petrel.toml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().code == ExitCode::kBadConfig);
  CHECK_THAT(config.error().message, Catch::Contains("/nonexistent/petrel.toml"));
}

TEST_CASE("sizes: binary suffixes, optional iB/B, and refusal of anything else") {
  CHECK(parse_size("0").value() == 0);
  CHECK(parse_size("4096").value() == 4096);
  CHECK(parse_size("64K").value() == 64ull << 10);
  CHECK(parse_size("512M").value() == 512ull << 20);
  CHECK(parse_size("512m").value() == 512ull << 20);
  CHECK(parse_size("1G").value() == 1ull << 30);
  CHECK(parse_size("1GiB").value() == 1ull << 30);
  CHECK(parse_size("2GB").value() == 2ull << 30);
  CHECK(parse_size("1T").value() == 1ull << 40);
  CHECK(parse_size("100B").value() == 100);
  for (const char* bad : {"", "M", "-1M", "1.5G", "12Q", "1GiBs", "1 G", "99999999999T",
                          "184467440737095516160"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

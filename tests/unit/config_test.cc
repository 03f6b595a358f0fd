// The TOML loader on good input: values, defaults, path resolution, reading files, sizes.
// Mistakes and their messages are in config_errors_test.cc.
#include "core/config.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <limits>
#include <string>

#include "tests/unit/scratch_dir.h"

using namespace petrel;
using petrel::testing::expect_error;
using petrel::testing::ScratchDir;
using petrel::testing::WorkingDir;
namespace fs = std::filesystem;

TEST_CASE("config: a full config is read, paths resolved against its folder") {
  ScratchDir scratch;
  auto config = scratch.parse(R"(
name = "web-1"
on_reset = "restart"

[machine]
vcpus = 4
memory = "1G"

[boot]
kernel = "Image"
initrd = "./initrd.img"
cmdline = "console=ttyS0 panic=-1"

[console]
mode = "none"
)");
  REQUIRE(config.has_value());
  CHECK(config->source == scratch / "guest.toml");
  CHECK(config->name == "web-1");
  CHECK(config->on_reset == OnReset::kRestart);
  CHECK(config->machine.vcpus == 4);
  CHECK(config->machine.memory_bytes == (1ull << 30));
  CHECK(config->boot.kernel == scratch / "Image");
  REQUIRE(config->boot.initrd.has_value());
  CHECK(*config->boot.initrd == scratch / "initrd.img");
  CHECK(config->boot.cmdline == "console=ttyS0 panic=-1");
  CHECK(config->console.mode == ConsoleMode::kNone);
}

TEST_CASE("config: defaults are 1 vCPU, 512 MiB, the file stem, stdio, exit") {
  ScratchDir scratch;
  auto config = scratch.parse("[boot]\nkernel = \"Image\"\n", "my-guest.toml");
  REQUIRE(config.has_value());
  CHECK(config->name == "my-guest");
  CHECK(config->machine.vcpus == 1);
  CHECK(config->machine.memory_bytes == (512ull << 20));
  CHECK(config->console.mode == ConsoleMode::kStdio);
  CHECK(config->on_reset == OnReset::kExit);
  CHECK(config->boot.cmdline.empty());
  CHECK_FALSE(config->boot.initrd.has_value());
  CHECK_FALSE(config->machine.pmu.has_value());  // where the host has one
}

TEST_CASE("config: machine.pmu is a boolean") {
  ScratchDir scratch;
  auto off = scratch.parse("[machine]\npmu = false\n[boot]\nkernel = \"Image\"\n");
  REQUIRE(off.has_value());
  CHECK(off->machine.pmu == false);
  auto on = scratch.parse("[machine]\npmu = true\n[boot]\nkernel = \"Image\"\n");
  REQUIRE(on.has_value());
  CHECK(on->machine.pmu == true);
  const Error error =
      expect_error(scratch.parse("[machine]\npmu = \"yes\"\n[boot]\nkernel = \"Image\"\n"),
                   ExitCode::kBadConfig);
  CHECK_THAT(error.message, Catch::Contains("machine.pmu"));
  CHECK_THAT(error.message, Catch::Contains("a boolean"));
}

TEST_CASE("config: empty [machine] and [console] tables keep the defaults") {
  ScratchDir scratch;
  auto config = scratch.parse("[machine]\n[console]\n[boot]\nkernel = \"Image\"\n");
  REQUIRE(config.has_value());
  CHECK(config->machine.vcpus == 1);
  CHECK(config->machine.memory_bytes == (512ull << 20));
  CHECK(config->console.mode == ConsoleMode::kStdio);
}

TEST_CASE("config: the name defaults to the stem, the last suffix dropped") {
  ScratchDir scratch;
  const std::string boot = "[boot]\nkernel = \"Image\"\n";
  CHECK(scratch.parse(boot, "web.prod.toml").value().name == "web.prod");
  CHECK(scratch.parse(boot, "guest").value().name == "guest");
  CHECK(scratch.parse("name = \"explicit\"\n" + boot, "other.toml").value().name == "explicit");
  CHECK(scratch.parse("name = \"" + std::string(64, 'n') + "\"\n" + boot).value().name.size() ==
        64);
  CHECK(scratch.parse("name = \"A-z_0.9\"\n" + boot).value().name == "A-z_0.9");
  // An explicit name rescues a file name that is not a valid one.
  CHECK(scratch.parse("name = \"ok\"\n" + boot, "not ok.toml").value().name == "ok");
}

TEST_CASE("config: every accepted value of the enumerations") {
  ScratchDir scratch;
  const std::string boot = "[boot]\nkernel = \"Image\"\n";
  CHECK(scratch.parse("on_reset = \"exit\"\n" + boot).value().on_reset == OnReset::kExit);
  CHECK(scratch.parse("on_reset = \"restart\"\n" + boot).value().on_reset == OnReset::kRestart);
  CHECK(scratch.parse(boot + "[console]\nmode = \"stdio\"\n").value().console.mode ==
        ConsoleMode::kStdio);
  CHECK(scratch.parse(boot + "[console]\nmode = \"none\"\n").value().console.mode ==
        ConsoleMode::kNone);
  CHECK(scratch.parse(boot).value().console.uart == ConsoleUartKind::kPl011);  // the default
  CHECK(scratch.parse(boot + "[console]\nuart = \"pl011\"\n").value().console.uart ==
        ConsoleUartKind::kPl011);
  CHECK(scratch.parse(boot + "[console]\nuart = \"16550\"\n").value().console.uart ==
        ConsoleUartKind::kUart16550);
}

TEST_CASE("config: vcpus and memory at the edges of their ranges") {
  ScratchDir scratch;
  auto machine = [&](const std::string& lines) {
    auto config = scratch.parse("[machine]\n" + lines + "\n[boot]\nkernel = \"Image\"\n");
    REQUIRE(config.has_value());
    return config->machine;
  };
  CHECK(machine("vcpus = 1").vcpus == 1);
  CHECK(machine("vcpus = 512").vcpus == kMaxConfigVcpus);
  CHECK(machine("memory = \"64M\"").memory_bytes == kMinMemoryBytes);
  CHECK(machine("memory = \"1T\"").memory_bytes == kMaxMemoryBytes);
  CHECK(machine("memory = \"66M\"").memory_bytes == (66ull << 20));
  CHECK(machine("memory = \"2gib\"").memory_bytes == (2ull << 30));
  CHECK(machine("memory = 134217728").memory_bytes == (128ull << 20));
  CHECK(machine("memory = 0x40000000").memory_bytes == (1ull << 30));
  CHECK(machine("memory = 1_099_511_627_776").memory_bytes == kMaxMemoryBytes);
}

TEST_CASE("config: inline tables and dotted keys mean the same as [tables]") {
  ScratchDir scratch;
  auto config = scratch.parse(
      "machine = { vcpus = 2, memory = \"256M\" }\n"
      "boot.kernel = \"Image\"\n"
      "boot.cmdline = \"quiet\"\n");
  REQUIRE(config.has_value());
  CHECK(config->machine.vcpus == 2);
  CHECK(config->machine.memory_bytes == (256ull << 20));
  CHECK(config->boot.kernel == scratch / "Image");
  CHECK(config->boot.cmdline == "quiet");
}

TEST_CASE("config: a command line of 2047 bytes is the longest accepted") {
  ScratchDir scratch;
  const std::string cmdline(kMaxCmdlineBytes - 1, 'a');
  auto config = scratch.parse("[boot]\nkernel = \"Image\"\ncmdline = \"" + cmdline + "\"\n");
  REQUIRE(config.has_value());
  CHECK(config->boot.cmdline == cmdline);
}

TEST_CASE("config: relative paths are resolved lexically against the config's folder") {
  ScratchDir scratch;
  scratch.write("boot/vmlinux", "kernel");
  auto kernel_at = [&](const std::string& kernel, const std::string& file = "guest.toml") {
    auto config = scratch.parse("[boot]\nkernel = \"" + kernel + "\"\n", file);
    REQUIRE(config.has_value());
    CHECK(config->boot.kernel.is_absolute());
    return config->boot.kernel;
  };
  CHECK(kernel_at("Image") == scratch / "Image");
  CHECK(kernel_at("./Image") == scratch / "Image");
  CHECK(kernel_at("boot/../Image") == scratch / "Image");
  CHECK(kernel_at("boot//vmlinux") == scratch / "boot/vmlinux");
  CHECK(kernel_at("../Image", "conf/guest.toml") == scratch / "Image");
  CHECK(kernel_at("vmlinux", "boot/guest.toml") == scratch / "boot/vmlinux");
  CHECK(kernel_at((scratch / "boot/vmlinux").string(), "elsewhere/guest.toml") ==
        scratch / "boot/vmlinux");
}

TEST_CASE("config: a config named by a relative path resolves against the working folder") {
  ScratchDir scratch;
  scratch.write("conf/Image", "kernel");
  const WorkingDir cwd(scratch.dir());
  auto config = parse_config(device_kinds(), "[boot]\nkernel = \"Image\"\n", "conf/guest.toml");
  REQUIRE(config.has_value());
  CHECK(config->boot.kernel == fs::current_path() / "conf/Image");
  auto bare = parse_config(device_kinds(), "[boot]\nkernel = \"Image\"\n", "guest.toml");
  REQUIRE(bare.has_value());
  CHECK(bare->boot.kernel == fs::current_path() / "Image");
}

TEST_CASE("config: a symbolic link to a kernel is accepted and kept as written") {
  ScratchDir scratch;
  fs::create_symlink(scratch / "Image", scratch / "current");
  auto config = scratch.parse("[boot]\nkernel = \"current\"\n");
  REQUIRE(config.has_value());
  CHECK(config->boot.kernel == scratch / "current");
}

TEST_CASE("load_config: reads a file; its stem is the name and its folder the anchor") {
  ScratchDir scratch;
  const fs::path file =
      scratch.write("guests/web-1.toml", "[machine]\nvcpus = 2\n[boot]\nkernel = \"../Image\"\n");
  auto config = load_config(device_kinds(), file);
  REQUIRE(config.has_value());
  CHECK(config->source == file);
  CHECK(config->name == "web-1");
  CHECK(config->machine.vcpus == 2);
  CHECK(config->boot.kernel == scratch / "Image");
}

TEST_CASE("load_config: messages name the file as it was given") {
  ScratchDir scratch;
  scratch.write("guest.toml", "[machine]\nvcpus = 0\n[boot]\nkernel = \"Image\"\n");
  const WorkingDir cwd(scratch.dir());
  const Error error = expect_error(load_config(device_kinds(), "guest.toml"), ExitCode::kBadConfig);
  CHECK(error.message == "guest.toml:2:9: machine.vcpus: 0 is out of range 1..512");
}

TEST_CASE("load_config: an unreadable config is BAD_CONFIG naming the file and the reason") {
  ScratchDir scratch;
  const fs::path missing = scratch / "absent.toml";
  CHECK(expect_error(load_config(device_kinds(), missing), ExitCode::kBadConfig).message ==
        missing.string() + ": cannot read: No such file or directory");
  CHECK(expect_error(load_config(device_kinds(), scratch.dir()), ExitCode::kBadConfig).message ==
        scratch.dir().string() + ": cannot read: Is a directory");
  // Bigger than any real config: refused rather than read without end.
  const fs::path huge = scratch.write("huge.toml", std::string((1 << 20) + 1, '#'));
  CHECK(expect_error(load_config(device_kinds(), huge), ExitCode::kBadConfig).message ==
        huge.string() + ": cannot read: File too large");
  if (geteuid() != 0) {
    const fs::path locked = scratch.write("locked.toml", "");
    fs::permissions(locked, fs::perms::none);
    CHECK(expect_error(load_config(device_kinds(), locked), ExitCode::kBadConfig).message ==
          locked.string() + ": cannot read: Permission denied");
  }
}

TEST_CASE("parse_size: digits with an optional binary suffix") {
  CHECK(parse_size("0").value() == 0);
  CHECK(parse_size("0M").value() == 0);
  CHECK(parse_size("4096").value() == 4096);
  CHECK(parse_size("017M").value() == 17ull << 20);
  CHECK(parse_size("100B").value() == 100);
  CHECK(parse_size("64K").value() == 64ull << 10);
  CHECK(parse_size("64k").value() == 64ull << 10);
  CHECK(parse_size("64KiB").value() == 64ull << 10);
  CHECK(parse_size("512M").value() == 512ull << 20);
  CHECK(parse_size("512m").value() == 512ull << 20);
  CHECK(parse_size("512MB").value() == 512ull << 20);
  CHECK(parse_size("1G").value() == 1ull << 30);
  CHECK(parse_size("1GiB").value() == 1ull << 30);
  CHECK(parse_size("1gib").value() == 1ull << 30);
  CHECK(parse_size("1GIB").value() == 1ull << 30);
  CHECK(parse_size("2gb").value() == 2ull << 30);
  CHECK(parse_size("1T").value() == 1ull << 40);
  CHECK(parse_size("3TiB").value() == 3ull << 40);
}

TEST_CASE("parse_size: the largest sizes that fit in 64 bits") {
  CHECK(parse_size("18446744073709551615").value() == std::numeric_limits<uint64_t>::max());
  CHECK(parse_size("16777215T").value() == ((1ull << 24) - 1) << 40);
  CHECK(parse_size("17179869183G").value() == ((1ull << 34) - 1) << 30);
}

TEST_CASE("parse_size: overflow is refused as too large") {
  for (const char* text : {"99999999999T", "16777216T", "17179869184G", "18446744073709551616",
                           "184467440737095516160", "99999999999999999999999999999999M"}) {
    INFO(text);
    auto size = parse_size(text);
    REQUIRE_FALSE(size.has_value());
    CHECK(size.error().code == ExitCode::kBadConfig);
    CHECK(size.error().message == "\"" + std::string(text) + "\" is too large");
  }
}

TEST_CASE("parse_size: anything but digits and a suffix is not a size") {
  for (const char* text : {"",      "M",   "K",   "iB",    "B",   "-1",    "-1M",   "+1M",
                           "1.5G",  ".5G", "12Q", "1GiBs", "1 G", " 1G",   "1G ",   "1Gi",
                           "1KiBB", "1BB", "1iB", "0x10",  "1e9", "1,024", "1_024", "１G"}) {
    INFO(text);
    auto size = parse_size(text);
    REQUIRE_FALSE(size.has_value());
    CHECK(size.error().code == ExitCode::kBadConfig);
    CHECK_THAT(size.error().message,
               Catch::StartsWith("\"" + std::string(text) + "\" is not a size"));
  }
  // The message stays one line whatever the text holds.
  auto size = parse_size("1\nG");
  REQUIRE_FALSE(size.has_value());
  CHECK(size.error().message.find('\n') == std::string::npos);
  CHECK_THAT(size.error().message, Catch::StartsWith("\"1\\nG\" is not a size"));
}

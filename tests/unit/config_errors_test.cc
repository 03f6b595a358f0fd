// The TOML loader on bad input: each kind of mistake ends in its exit code and one line that
// names the file, line and column, the key and the value at fault.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

using namespace petrel;
using petrel::testing::expect_error;
using petrel::testing::message_for;
using petrel::testing::ScratchDir;
using petrel::testing::with_dir_hidden;
namespace fs = std::filesystem;

namespace {

const std::string kBoot = "[boot]\nkernel = \"Image\"\n";

}  // namespace

TEST_CASE("config errors: TOML syntax errors give toml++'s position and description") {
  ScratchDir scratch;
  CHECK_THAT(message_for(scratch, "[machine\nvcpus = 1\n"),
             Catch::StartsWith("<dir>/guest.toml:1:9: ") && Catch::Contains("expected ']'"));
  CHECK_THAT(message_for(scratch, "[boot]\nkernel = \n"), Catch::StartsWith("<dir>/guest.toml:2:"));
  CHECK_THAT(message_for(scratch, "[machine]\nvcpus = 1\nvcpus = 2\n"),
             Catch::StartsWith("<dir>/guest.toml:3:") && Catch::Contains("vcpus"));
  CHECK_THAT(message_for(scratch, "name = \"\xff\"\n"), Catch::StartsWith("<dir>/guest.toml:1:"));
}

TEST_CASE("config errors: unknown keys and tables, each at its own position") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "[machine]\nvcpu = 1\n" + kBoot) ==
        "<dir>/guest.toml:2:1: machine.vcpu: unknown key; known here: vcpus, memory, pmu, "
        "stop_grace");
  CHECK(message_for(scratch, kBoot + "initramfs = \"x\"\n") ==
        "<dir>/guest.toml:3:1: boot.initramfs: unknown key; known here: kernel, initrd, cmdline");
  CHECK(message_for(scratch, kBoot + "[console]\nbaud = 9600\n") ==
        "<dir>/guest.toml:4:1: console.baud: unknown key; known here: mode, log, uart");
  CHECK(message_for(scratch, "nmae = \"x\"\n" + kBoot) ==
        "<dir>/guest.toml:1:1: nmae: unknown key; known here: name, on_reset, machine, boot, "
        "console, api, drive, net, rng, share, port, test_exit, power_button");
  CHECK(message_for(scratch, kBoot + "[network]\ntap = \"tap0\"\n") ==
        "<dir>/guest.toml:3:2: network: unknown table; known here: name, on_reset, machine, "
        "boot, console, api, drive, net, rng, share, port, test_exit, power_button");
  CHECK(message_for(scratch, "[machine.numa]\n" + kBoot) ==
        "<dir>/guest.toml:1:10: machine.numa: unknown table; known here: vcpus, memory, pmu, "
        "stop_grace");
  CHECK(message_for(scratch, "machine.cpus = 2\n" + kBoot) ==
        "<dir>/guest.toml:1:9: machine.cpus: unknown key; known here: vcpus, memory, pmu, "
        "stop_grace");
}

TEST_CASE("config errors: the first unknown key in the file is reported") {
  ScratchDir scratch;
  // toml++ keeps keys sorted; the report follows the file.
  CHECK_THAT(message_for(scratch, kBoot + "zeta = 1\nalpha = 2\n"),
             Catch::StartsWith("<dir>/guest.toml:3:1: boot.zeta: unknown key"));
  CHECK_THAT(message_for(scratch, "[machine]\nzz = 1\n" + kBoot + "[aa]\n"),
             Catch::StartsWith("<dir>/guest.toml:2:1: machine.zz: unknown key"));
  // Before any other mistake, so a misspelt required key is not reported as missing.
  CHECK_THAT(message_for(scratch, "[machine]\nvcpus = 0\n[boot]\nkernal = \"Image\"\n"),
             Catch::StartsWith("<dir>/guest.toml:4:1: boot.kernal: unknown key"));
}

TEST_CASE("config errors: wrong types name the expected and the given type") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "[machine]\nvcpus = \"two\"\n" + kBoot) ==
        "<dir>/guest.toml:2:9: machine.vcpus: expected an integer, got string");
  CHECK(message_for(scratch, "[machine]\nvcpus = 2.0\n" + kBoot) ==
        "<dir>/guest.toml:2:9: machine.vcpus: expected an integer, got float");
  CHECK(message_for(scratch, "[machine]\nmemory = true\n" + kBoot) ==
        "<dir>/guest.toml:2:10: machine.memory: expected a size string or an integer, got boolean");
  CHECK(message_for(scratch, "[machine]\nmemory = 0.5\n" + kBoot) ==
        "<dir>/guest.toml:2:10: machine.memory: expected a size string or an integer, got float");
  CHECK(message_for(scratch, "[boot]\nkernel = 7\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: expected a string, got integer");
  CHECK(message_for(scratch, kBoot + "initrd = [\"a\"]\n") ==
        "<dir>/guest.toml:3:10: boot.initrd: expected a string, got array");
  CHECK(message_for(scratch, kBoot + "cmdline = 1979-05-27\n") ==
        "<dir>/guest.toml:3:11: boot.cmdline: expected a string, got date");
  CHECK(message_for(scratch, "name = 1\n" + kBoot) ==
        "<dir>/guest.toml:1:8: name: expected a string, got integer");
  CHECK(message_for(scratch, "on_reset = false\n" + kBoot) ==
        "<dir>/guest.toml:1:12: on_reset: expected a string, got boolean");
  CHECK(message_for(scratch, kBoot + "[console]\nmode = 1\n") ==
        "<dir>/guest.toml:4:8: console.mode: expected a string, got integer");
  CHECK(message_for(scratch, "machine = 5\n" + kBoot) ==
        "<dir>/guest.toml:1:11: machine: expected a table, got integer");
  CHECK(message_for(scratch, "console = \"none\"\n" + kBoot) ==
        "<dir>/guest.toml:1:11: console: expected a table, got string");
  CHECK_THAT(message_for(scratch, "[[boot]]\nkernel = \"Image\"\n"),
             Catch::EndsWith("boot: expected a table, got array"));
}

TEST_CASE("config errors: vcpus out of range") {
  ScratchDir scratch;
  auto vcpus = [&](const std::string& value) {
    return message_for(scratch, "[machine]\nvcpus = " + value + "\n" + kBoot);
  };
  CHECK(vcpus("0") == "<dir>/guest.toml:2:9: machine.vcpus: 0 is out of range 1..512");
  CHECK(vcpus("513") == "<dir>/guest.toml:2:9: machine.vcpus: 513 is out of range 1..512");
  CHECK(vcpus("-1") == "<dir>/guest.toml:2:9: machine.vcpus: -1 is out of range 1..512");
  CHECK(vcpus("4294967297") ==
        "<dir>/guest.toml:2:9: machine.vcpus: 4294967297 is out of range 1..512");
}

TEST_CASE("config errors: memory out of range, misaligned or not a size") {
  ScratchDir scratch;
  auto memory = [&](const std::string& value) {
    return message_for(scratch, "[machine]\nmemory = " + value + "\n" + kBoot);
  };
  const std::string at = "<dir>/guest.toml:2:10: machine.memory: ";
  CHECK(memory("\"32M\"") == at + "\"32M\" is out of range 64 MiB..1 TiB");
  CHECK(memory("\"2T\"") == at + "\"2T\" is out of range 64 MiB..1 TiB");
  CHECK(memory("\"0\"") == at + "\"0\" is out of range 64 MiB..1 TiB");
  CHECK(memory("0") == at + "0 is out of range 64 MiB..1 TiB");
  CHECK(memory("-536870912") == at + "-536870912 is out of range 64 MiB..1 TiB");
  CHECK(memory("\"65M\"") == at + "\"65M\" is not a multiple of 2 MiB");
  CHECK(memory("67109888") == at + "67109888 is not a multiple of 2 MiB");
  CHECK(memory("\"99999999999T\"") == at + "\"99999999999T\" is too large");
  CHECK_THAT(memory("\"12Q\""), Catch::StartsWith(at + "\"12Q\" is not a size"));
  CHECK_THAT(memory("\"1.5G\""), Catch::StartsWith(at + "\"1.5G\" is not a size"));
  CHECK_THAT(memory("\"-512M\""), Catch::StartsWith(at + "\"-512M\" is not a size"));
  CHECK_THAT(memory("\"\""), Catch::StartsWith(at + "\"\" is not a size"));
}

TEST_CASE("config errors: missing [boot] or boot.kernel") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "") == "<dir>/guest.toml:1:1: boot: missing required table [boot]");
  CHECK(message_for(scratch, "name = \"x\"\n[machine]\nvcpus = 1\n") ==
        "<dir>/guest.toml:1:1: boot: missing required table [boot]");
  CHECK(message_for(scratch, "name = \"x\"\n[boot]\ncmdline = \"quiet\"\n") ==
        "<dir>/guest.toml:2:1: boot.kernel: missing required key");
}

TEST_CASE("config errors: names, given or from the file name") {
  ScratchDir scratch;
  const std::string rule = "(letters, digits, '.', '_' or '-', 1 to 64 of them)";
  CHECK(message_for(scratch, "name = \"has space\"\n" + kBoot) ==
        "<dir>/guest.toml:1:8: name: \"has space\" is not a valid name " + rule);
  CHECK(message_for(scratch, "name = \"\"\n" + kBoot) ==
        "<dir>/guest.toml:1:8: name: \"\" is not a valid name " + rule);
  CHECK(message_for(scratch, "name = \"a/b\"\n" + kBoot) ==
        "<dir>/guest.toml:1:8: name: \"a/b\" is not a valid name " + rule);
  CHECK_THAT(message_for(scratch, "name = \"" + std::string(65, 'n') + "\"\n" + kBoot),
             Catch::StartsWith("<dir>/guest.toml:1:8: name: \"nnnn") &&
                 Catch::EndsWith("\"... is not a valid name " + rule));
  const Error from_file = expect_error(scratch.parse(kBoot, "my guest.toml"), ExitCode::kBadConfig);
  CHECK(with_dir_hidden(scratch, from_file.message) ==
        "<dir>/my guest.toml:1:1: name: the file name gives \"my guest\", not a valid name " +
            rule + "; set name");
}

TEST_CASE("config errors: words outside their set") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "on_reset = \"again\"\n" + kBoot) ==
        "<dir>/guest.toml:1:12: on_reset: \"again\" is not \"exit\" or \"restart\"");
  CHECK(message_for(scratch, "on_reset = \"Exit\"\n" + kBoot) ==
        "<dir>/guest.toml:1:12: on_reset: \"Exit\" is not \"exit\" or \"restart\"");
  CHECK(message_for(scratch, kBoot + "[console]\nmode = \"tty\"\n") ==
        "<dir>/guest.toml:4:8: console.mode: \"tty\" is not \"stdio\" or \"none\"");
  CHECK(message_for(scratch, kBoot + "[console]\nuart = \"pl031\"\n") ==
        "<dir>/guest.toml:4:8: console.uart: \"pl031\" is not \"pl011\" or \"16550\"");
  CHECK(message_for(scratch, kBoot + "[console]\nuart = 16550\n") ==
        "<dir>/guest.toml:4:8: console.uart: expected a string, got integer");
  // Escaped, so that the message stays one line.
  CHECK(message_for(scratch, "on_reset = \"a\\nb\\u0001\"\n" + kBoot) ==
        "<dir>/guest.toml:1:12: on_reset: \"a\\nb\\x01\" is not \"exit\" or \"restart\"");
}

TEST_CASE("config errors: command lines too long or with a NUL") {
  ScratchDir scratch;
  CHECK(
      message_for(scratch, kBoot + "cmdline = \"" + std::string(kMaxCmdlineBytes, 'a') + "\"\n") ==
      "<dir>/guest.toml:3:11: boot.cmdline: 2048 bytes is longer than the 2047 the kernel accepts");
  CHECK(message_for(scratch, kBoot + "cmdline = \"a\\u0000b\"\n") ==
        "<dir>/guest.toml:3:11: boot.cmdline: contains a NUL character");
}

TEST_CASE("config errors: empty paths and paths with a NUL are BAD_CONFIG") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "[boot]\nkernel = \"\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: empty path");
  CHECK(message_for(scratch, kBoot + "initrd = \"\"\n") ==
        "<dir>/guest.toml:3:10: boot.initrd: empty path");
  // The file "Image" exists: the NUL must not let it pass for "Image\0junk".
  CHECK(message_for(scratch, "[boot]\nkernel = \"Image\\u0000junk\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: \"Image\\x00junk\" contains a NUL character");
}

TEST_CASE("config errors: kernel or initrd unusable is KERNEL_LOAD_FAILURE") {
  ScratchDir scratch;
  scratch.write("folder/file", "");
  auto load_failure = [&](const std::string& text) {
    return message_for(scratch, text, ExitCode::kKernelLoadFailure);
  };
  CHECK(load_failure("[boot]\nkernel = \"nope\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: <dir>/nope: No such file or directory");
  CHECK(load_failure(kBoot + "initrd = \"../x/../missing.img\"\n") ==
        "<dir>/guest.toml:3:10: boot.initrd: " +
            (scratch.dir().parent_path() / "missing.img").string() + ": No such file or directory");
  CHECK(load_failure("[boot]\nkernel = \"folder\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: <dir>/folder: not a regular file");
  CHECK(load_failure("[boot]\nkernel = \"Image/x\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: <dir>/Image/x: Not a directory");
  CHECK(load_failure("[boot]\nkernel = \"/dev/null\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: /dev/null: not a regular file");
  fs::create_symlink(scratch / "gone", scratch / "dangling");
  CHECK(load_failure("[boot]\nkernel = \"dangling\"\n") ==
        "<dir>/guest.toml:2:10: boot.kernel: <dir>/dangling: No such file or directory");
  if (geteuid() != 0) {  // root reads any file
    fs::permissions(scratch / "initrd.img", fs::perms::none);
    CHECK(load_failure(kBoot + "initrd = \"initrd.img\"\n") ==
          "<dir>/guest.toml:3:10: boot.initrd: <dir>/initrd.img: Permission denied");
  }
}

TEST_CASE("config errors: a config mistake is reported before a missing kernel") {
  ScratchDir scratch;
  const std::string missing_kernel = "[boot]\nkernel = \"nope\"\n";
  CHECK_THAT(message_for(scratch, "[machine]\nvcpus = 0\n" + missing_kernel),
             Catch::Contains("machine.vcpus"));
  CHECK_THAT(message_for(scratch, missing_kernel + "[console]\nmode = \"tty\"\n"),
             Catch::Contains("console.mode"));
  CHECK_THAT(message_for(scratch, missing_kernel + "initrd = 3\n"), Catch::Contains("boot.initrd"));
  CHECK_THAT(message_for(scratch, "name = \"a b\"\n" + missing_kernel), Catch::Contains("name"));
}

TEST_CASE("config errors: no input crashes the loader or gives a message without a position") {
  ScratchDir scratch;
  const std::string full =
      "name = \"web-1\"\non_reset = \"restart\"\n[machine]\nvcpus = 4\nmemory = \"1G\"\n"
      "[boot]\nkernel = \"Image\"\ninitrd = \"initrd.img\"\ncmdline = \"quiet\"\n"
      "[console]\nmode = \"none\"\n";
  std::vector<std::string> inputs = {
      std::string("\0", 1), "\xef\xbb\xbf", "=", "[", "[]", "a = [" + std::string(2000, '[')};
  for (size_t size = 0; size <= full.size(); ++size) inputs.push_back(full.substr(0, size));
  for (const std::string& text : inputs) {
    INFO(text);
    Result<Config> config = scratch.parse(text);
    if (config) continue;  // complete enough to be valid
    CHECK(config.error().message.find('\n') == std::string::npos);
    CHECK_THAT(config.error().message, Catch::StartsWith(scratch.file() + ":"));
  }
}

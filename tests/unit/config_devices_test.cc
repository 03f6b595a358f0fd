// The device tables of the TOML config: [[drive]], [[net]] and [rng], on good and bad input.
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "tests/unit/scratch_dir.h"

using namespace petrel;
using namespace petrel::testing;
using petrel::testing::expect_error;
using petrel::testing::message_for;
using petrel::testing::ScratchDir;
using petrel::testing::with_dir_hidden;
namespace fs = std::filesystem;

namespace {

// Two lines, so a device table that follows starts on line 3.
const std::string kBoot = "[boot]\nkernel = \"Image\"\n";

// `text` before kBoot (so it may hold top-level keys), which must be valid.
Config parse_ok(const ScratchDir& scratch, const std::string& text) {
  auto config = scratch.parse(text + kBoot);
  if (!config) FAIL(config.error().message);
  return *config;
}

std::string drive_with(const std::string& lines) { return "[[drive]]\n" + lines + "\n"; }
std::string net_with(const std::string& lines) { return "[[net]]\n" + lines + "\n"; }

}  // namespace

TEST_CASE("config devices: none unless asked for") {
  ScratchDir scratch;
  const Config config = parse_ok(scratch, "");
  CHECK(drives(config).empty());
  CHECK(nets(config).empty());
  CHECK_FALSE(config.has_device("rng"));
  // Empty arrays ask for nothing either.
  const Config empty = parse_ok(scratch, "drive = []\nnet = []\n");
  CHECK(drives(empty).empty());
  CHECK(nets(empty).empty());
}

TEST_CASE("config devices: a drive with only a path is writable and has no id") {
  ScratchDir scratch;
  scratch.write("disk.img", "");
  const Config config = parse_ok(scratch, drive_with("path = \"disk.img\""));
  REQUIRE(drives(config).size() == 1);
  CHECK(drives(config)[0].path == scratch / "disk.img");
  CHECK_FALSE(drives(config)[0].read_only);
  CHECK(drives(config)[0].id.empty());
}

TEST_CASE("config devices: several drives keep their order and every key") {
  ScratchDir scratch;
  scratch.write("root.img", "");
  scratch.write("data.img", "");
  scratch.write("seed.iso", "");
  const Config config = parse_ok(scratch,
                                 "[[drive]]\npath = \"root.img\"\nid = \"rootdisk\"\n"
                                 "[[drive]]\npath = \"seed.iso\"\nread_only = true\n"
                                 "[[drive]]\npath = \"data.img\"\nread_only = false\n"
                                 "id = \"" +
                                     std::string(virtio::kMaxDriveIdBytes, 'x') + "\"\n");
  REQUIRE(drives(config).size() == 3);
  CHECK(drives(config)[0].path == scratch / "root.img");
  CHECK_FALSE(drives(config)[0].read_only);
  CHECK(drives(config)[0].id == "rootdisk");
  CHECK(drives(config)[1].path == scratch / "seed.iso");
  CHECK(drives(config)[1].read_only);
  CHECK(drives(config)[1].id.empty());
  CHECK(drives(config)[2].path == scratch / "data.img");
  CHECK_FALSE(drives(config)[2].read_only);
  CHECK(drives(config)[2].id == std::string(virtio::kMaxDriveIdBytes, 'x'));
}

TEST_CASE("config devices: drive paths resolve against the config's folder, like the kernel") {
  ScratchDir scratch;
  scratch.write("disks/a.img", "");
  scratch.write("conf/Image", "kernel");
  scratch.write("elsewhere/Image", "kernel");
  auto drive_at = [&](const std::string& path, const std::string& file = "guest.toml") {
    auto config = scratch.parse(kBoot + drive_with("path = \"" + path + "\""), file);
    if (!config) FAIL(config.error().message);
    REQUIRE(drives(*config).size() == 1);
    CHECK(drives(*config)[0].path.is_absolute());
    return drives(*config)[0].path;
  };
  CHECK(drive_at("disks/a.img") == scratch / "disks/a.img");
  CHECK(drive_at("./disks//a.img") == scratch / "disks/a.img");
  CHECK(drive_at("conf/../disks/a.img") == scratch / "disks/a.img");
  CHECK(drive_at("../disks/a.img", "conf/guest.toml") == scratch / "disks/a.img");
  CHECK(drive_at((scratch / "disks/a.img").string(), "elsewhere/guest.toml") ==
        scratch / "disks/a.img");
}

TEST_CASE("config devices: inline tables are entries too") {
  ScratchDir scratch;
  scratch.write("disk.img", "");
  const Config config = parse_ok(
      scratch, "drive = [{ path = \"disk.img\", read_only = true }]\nnet = [{ tap = \"tap0\" }]\n");
  REQUIRE(drives(config).size() == 1);
  CHECK(drives(config)[0].read_only);
  REQUIRE(nets(config).size() == 1);
  CHECK(nets(config)[0].tap == "tap0");
  CHECK(parse_ok(scratch, "rng = {}\n").has_device("rng"));
}

TEST_CASE("config devices: [test_exit] enables the test-exit device unless enabled = false") {
  ScratchDir scratch;
  CHECK_FALSE(parse_ok(scratch, "").has_device("test_exit"));
  CHECK(parse_ok(scratch, "[test_exit]\n").has_device("test_exit"));
  CHECK(parse_ok(scratch, "test_exit = {}\n").has_device("test_exit"));
  CHECK(parse_ok(scratch, "[test_exit]\nenabled = true\n").has_device("test_exit"));
  CHECK_FALSE(parse_ok(scratch, "[test_exit]\nenabled = false\n").has_device("test_exit"));
  CHECK(message_for(scratch, kBoot + "[test_exit]\nstatus = 1\n") ==
        "<dir>/guest.toml:4:1: test_exit.status: unknown key; known here: enabled");
  CHECK(message_for(scratch, kBoot + "[test_exit]\nenabled = 1\n") ==
        "<dir>/guest.toml:4:11: test_exit.enabled: expected a boolean, got integer");
  CHECK(message_for(scratch, "test_exit = true\n" + kBoot) ==
        "<dir>/guest.toml:1:13: test_exit: expected a table, got boolean");
}

TEST_CASE("config devices: nets keep their order; a MAC is six hex pairs in either case") {
  ScratchDir scratch;
  const Config config =
      parse_ok(scratch,
               "[[net]]\ntap = \"tap0\"\nmac = \"52:54:00:12:34:56\"\n"
               "[[net]]\ntap = \"" +
                   std::string(virtio::kMaxTapNameBytes, 't') +
                   "\"\n"
                   "[[net]]\ntap = \"br-guest.1\"\nmac = \"FE:dc:BA:98:76:54\"\n");
  REQUIRE(nets(config).size() == 3);
  CHECK(nets(config)[0].tap == "tap0");
  REQUIRE(nets(config)[0].mac.has_value());
  CHECK(*nets(config)[0].mac == std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0x12, 0x34, 0x56});
  CHECK(nets(config)[1].tap == std::string(virtio::kMaxTapNameBytes, 't'));
  CHECK_FALSE(nets(config)[1].mac.has_value());
  CHECK(nets(config)[2].tap == "br-guest.1");
  REQUIRE(nets(config)[2].mac.has_value());
  CHECK(*nets(config)[2].mac == std::array<uint8_t, 6>{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54});
}

TEST_CASE("config devices: [rng] enables the entropy device unless enabled = false") {
  ScratchDir scratch;
  CHECK(parse_ok(scratch, "[rng]\n").has_device("rng"));
  CHECK(parse_ok(scratch, "[rng]\nenabled = true\n").has_device("rng"));
  CHECK_FALSE(parse_ok(scratch, "[rng]\nenabled = false\n").has_device("rng"));
  CHECK(parse_ok(scratch, "rng.enabled = true\n").has_device("rng"));
}

TEST_CASE("config devices: up to 16 drives and 8 nets") {
  ScratchDir scratch;
  std::string drive_tables;
  for (size_t i = 0; i < virtio::kMaxDrives; ++i) {
    const std::string name = "d" + std::to_string(i) + ".img";
    scratch.write(name, "");
    drive_tables += drive_with("path = \"" + name + "\"");
  }
  std::string net_tables;
  for (size_t i = 0; i < virtio::kMaxNets; ++i) {
    net_tables += net_with("tap = \"tap" + std::to_string(i) + "\"");
  }
  const Config config = parse_ok(scratch, drive_tables + net_tables);
  CHECK(drives(config).size() == virtio::kMaxDrives);
  CHECK(nets(config).size() == virtio::kMaxNets);
  CHECK(drives(config)[15].path == scratch / "d15.img");
  CHECK(nets(config)[7].tap == "tap7");

  // One more of each: the first entry too many is named. 16 drives of two lines each plus
  // kBoot put the 17th on line 35.
  scratch.write("extra.img", "");
  CHECK(message_for(scratch, kBoot + drive_tables + drive_with("path = \"extra.img\"")) ==
        "<dir>/guest.toml:35:1: drive[16]: more than 16 drives");
  CHECK(message_for(scratch, kBoot + net_tables + net_with("tap = \"tap8\"")) ==
        "<dir>/guest.toml:19:1: net[8]: more than 8 nets");
}

TEST_CASE("config devices: a read-only image is enough for a read_only drive") {
  ScratchDir scratch;
  const fs::path image = scratch.write("ro.img", "");
  fs::permissions(image, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const Config config = parse_ok(scratch, drive_with("path = \"ro.img\"\nread_only = true"));
  REQUIRE(drives(config).size() == 1);
  CHECK(drives(config)[0].read_only);
  if (geteuid() != 0) {  // root opens any file for writing
    CHECK(message_for(scratch, kBoot + drive_with("path = \"ro.img\""),
                      ExitCode::kDeviceInitializationFailure) ==
          "<dir>/guest.toml:4:8: drive[0].path: <dir>/ro.img: Permission denied");
    CHECK(message_for(scratch, kBoot + drive_with("path = \"ro.img\"\nread_only = false"),
                      ExitCode::kDeviceInitializationFailure) ==
          "<dir>/guest.toml:4:8: drive[0].path: <dir>/ro.img: Permission denied");
    fs::permissions(image, fs::perms::none);
    CHECK(message_for(scratch, kBoot + drive_with("path = \"ro.img\"\nread_only = true"),
                      ExitCode::kDeviceInitializationFailure) ==
          "<dir>/guest.toml:4:8: drive[0].path: <dir>/ro.img: Permission denied");
  }
}

TEST_CASE("config devices errors: tables of the wrong shape") {
  ScratchDir scratch;
  CHECK(message_for(scratch, "drive = \"disk.img\"\n" + kBoot) ==
        "<dir>/guest.toml:1:9: drive: expected an array of tables ([[drive]]), got string");
  CHECK_THAT(message_for(scratch, kBoot + "[drive]\npath = \"disk.img\"\n"),
             Catch::StartsWith("<dir>/guest.toml:3:") &&
                 Catch::EndsWith(" drive: expected an array of tables ([[drive]]), got table"));
  CHECK(message_for(scratch, "net = 5\n" + kBoot) ==
        "<dir>/guest.toml:1:7: net: expected an array of tables ([[net]]), got integer");
  CHECK_THAT(message_for(scratch, kBoot + "[net]\ntap = \"tap0\"\n"),
             Catch::EndsWith(" net: expected an array of tables ([[net]]), got table"));
  CHECK(message_for(scratch, "drive = [{ path = \"a\" }, 7]\n" + kBoot) ==
        "<dir>/guest.toml:1:26: drive[1]: expected a table, got integer");
  CHECK(message_for(scratch, "net = [\"tap0\"]\n" + kBoot) ==
        "<dir>/guest.toml:1:8: net[0]: expected a table, got string");
  CHECK(message_for(scratch, "rng = true\n" + kBoot) ==
        "<dir>/guest.toml:1:7: rng: expected a table, got boolean");
  CHECK_THAT(message_for(scratch, kBoot + "[[rng]]\n"),
             Catch::EndsWith(" rng: expected a table, got array"));
}

TEST_CASE("config devices errors: values of the wrong type") {
  ScratchDir scratch;
  CHECK(message_for(scratch, kBoot + drive_with("path = 1")) ==
        "<dir>/guest.toml:4:8: drive[0].path: expected a string, got integer");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"a\"\nread_only = \"yes\"")) ==
        "<dir>/guest.toml:5:13: drive[0].read_only: expected a boolean, got string");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"a\"\nread_only = 1")) ==
        "<dir>/guest.toml:5:13: drive[0].read_only: expected a boolean, got integer");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"a\"\nid = 42")) ==
        "<dir>/guest.toml:5:6: drive[0].id: expected a string, got integer");
  CHECK(message_for(scratch, kBoot + net_with("tap = [\"tap0\"]")) ==
        "<dir>/guest.toml:4:7: net[0].tap: expected a string, got array");
  CHECK(message_for(scratch, kBoot + net_with("tap = \"tap0\"\nmac = 0x525400123456")) ==
        "<dir>/guest.toml:5:7: net[0].mac: expected a string, got integer");
  CHECK(message_for(scratch, kBoot + "[rng]\nenabled = \"yes\"\n") ==
        "<dir>/guest.toml:4:11: rng.enabled: expected a boolean, got string");
  // The index counts entries from 0 in file order.
  scratch.write("a.img", "");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"a.img\"") + drive_with("path = 2")) ==
        "<dir>/guest.toml:6:8: drive[1].path: expected a string, got integer");
}

TEST_CASE("config devices errors: a drive without a path, a net without a tap") {
  ScratchDir scratch;
  CHECK(message_for(scratch, kBoot + drive_with("read_only = true")) ==
        "<dir>/guest.toml:3:1: drive[0].path: missing required key");
  CHECK(message_for(scratch, kBoot + "[[drive]]\n") ==
        "<dir>/guest.toml:3:1: drive[0].path: missing required key");
  CHECK(message_for(scratch, kBoot + net_with("mac = \"52:54:00:12:34:56\"")) ==
        "<dir>/guest.toml:3:1: net[0].tap: missing required key");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: empty path");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"a\\u0000b\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: \"a\\x00b\" contains a NUL character");
}

TEST_CASE("config devices errors: drive ids longer than 20 bytes or not printable ASCII") {
  ScratchDir scratch;
  auto id = [&](const std::string& value) {
    return message_for(scratch, kBoot + drive_with("path = \"a\"\nid = \"" + value + "\""));
  };
  const std::string at = "<dir>/guest.toml:5:6: drive[0].id: ";
  CHECK(id(std::string(21, 'x')) ==
        at + "\"" + std::string(21, 'x') + "\" is 21 bytes, more than the 20 of a drive id");
  CHECK(id("a\\u0001b") == at + "\"a\\x01b\" is not printable ASCII");
  CHECK(id("tab\\there") == at + "\"tab\\x09here\" is not printable ASCII");
  CHECK(id("caf\xc3\xa9") == at + "\"caf\xc3\xa9\" is not printable ASCII");
}

TEST_CASE("config devices errors: tap names the kernel would refuse") {
  ScratchDir scratch;
  auto tap = [&](const std::string& value) {
    return message_for(scratch, kBoot + net_with("tap = \"" + value + "\""));
  };
  const std::string at = "<dir>/guest.toml:4:7: net[0].tap: ";
  const std::string rule =
      " is not an interface name (no '/', ':', whitespace or NUL; not \".\" or \"..\")";
  CHECK(tap("") == at + "empty interface name");
  CHECK(tap(std::string(16, 't')) ==
        at + "\"" + std::string(16, 't') + "\" is 16 bytes, more than the 15 of an interface name");
  CHECK(tap("a/b") == at + "\"a/b\"" + rule);
  CHECK(tap("tap 0") == at + "\"tap 0\"" + rule);
  CHECK(tap("tap\\t0") == at + "\"tap\\x090\"" + rule);
  CHECK(tap("eth0:1") == at + "\"eth0:1\"" + rule);
  CHECK(tap("tap\\u0000") == at + "\"tap\\x00\"" + rule);
  CHECK(tap(".") == at + "\".\"" + rule);
  CHECK(tap("..") == at + "\"..\"" + rule);
}

TEST_CASE("config devices errors: MAC addresses that are malformed, multicast or zero") {
  ScratchDir scratch;
  auto mac = [&](const std::string& value) {
    return message_for(scratch, kBoot + net_with("tap = \"tap0\"\nmac = \"" + value + "\""));
  };
  const std::string at = "<dir>/guest.toml:5:7: net[0].mac: ";
  const std::string rule =
      " is not a MAC address (six hex pairs separated by ':', e.g. \"52:54:00:12:34:56\")";
  for (const char* text :
       {"", "52:54:00:12:34", "52:54:00:12:34:56:", "52:54:00:12:34:5g", "52-54-00-12-34-56",
        "525400123456", " 52:54:00:12:34:56", "52:54:00:12:34:56 ", "5:54:00:12:34:567",
        "52:54:00:12:34:+6", "52::54:00:12:34:56"}) {
    INFO(text);
    CHECK(mac(text) == at + "\"" + text + "\"" + rule);
  }
  const std::string multicast = "\" is a multicast address (the first byte must be even)";
  CHECK(mac("01:00:5e:00:00:01") == at + "\"01:00:5e:00:00:01" + multicast);
  CHECK(mac("53:54:00:12:34:56") == at + "\"53:54:00:12:34:56" + multicast);
  CHECK(mac("FF:FF:FF:FF:FF:FF") == at + "\"FF:FF:FF:FF:FF:FF" + multicast);
  CHECK(mac("00:00:00:00:00:00") == at + "\"00:00:00:00:00:00\" is the all-zero address");
}

TEST_CASE("config devices errors: one image for two drives, one tap for two nets") {
  ScratchDir scratch;
  scratch.write("disk.img", "");
  scratch.write("other.img", "");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"disk.img\"") +
                                 drive_with("path = \"./sub/../disk.img\"\nread_only = true")) ==
        "<dir>/guest.toml:6:8: drive[1].path: <dir>/disk.img is already used by drive[0]");
  CHECK(message_for(scratch,
                    kBoot + drive_with("path = \"disk.img\"") + drive_with("path = \"other.img\"") +
                        drive_with("path = \"" + (scratch / "disk.img").string() + "\"")) ==
        "<dir>/guest.toml:8:8: drive[2].path: <dir>/disk.img is already used by drive[0]");
  CHECK(message_for(scratch, kBoot + net_with("tap = \"tap0\"") + net_with("tap = \"tap1\"") +
                                 net_with("tap = \"tap1\"")) ==
        "<dir>/guest.toml:8:7: net[2].tap: \"tap1\" is already used by net[1]");
}

TEST_CASE("config devices errors: unknown keys inside the entries, at their position") {
  ScratchDir scratch;
  scratch.write("disk.img", "");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"disk.img\"\nreadonly = true")) ==
        "<dir>/guest.toml:5:1: drive[0].readonly: unknown key; known here: path, read_only, id");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"disk.img\"") +
                                 drive_with("  path = \"disk.img\"\n  serial = \"x\"")) ==
        "<dir>/guest.toml:7:3: drive[1].serial: unknown key; known here: path, read_only, id");
  CHECK(message_for(scratch, kBoot + net_with("tap = \"tap0\"\nmacaddr = \"x\"")) ==
        "<dir>/guest.toml:5:1: net[0].macaddr: unknown key; known here: tap, mac");
  CHECK(message_for(scratch, kBoot + "[rng]\nenable = true\n") ==
        "<dir>/guest.toml:4:1: rng.enable: unknown key; known here: enabled");
  CHECK(message_for(scratch, kBoot + drive_with("path = \"disk.img\"") + "[drive.cache]\n") ==
        "<dir>/guest.toml:5:8: drive[0].cache: unknown table; known here: path, read_only, id");
  CHECK(message_for(scratch, "drive = [{ path = \"disk.img\", ro = true }]\n" + kBoot) ==
        "<dir>/guest.toml:1:31: drive[0].ro: unknown key; known here: path, read_only, id");
  CHECK(message_for(scratch, kBoot + "[[disk]]\npath = \"disk.img\"\n") ==
        "<dir>/guest.toml:3:3: disk: unknown table; known here: name, on_reset, machine, boot, "
        "console, api, drive, net, rng, share, port, test_exit, power_button");
}

TEST_CASE("config devices errors: unknown keys come first, the earliest in the file") {
  ScratchDir scratch;
  // Before the drive's own mistakes, and before a mistake in an earlier table.
  CHECK_THAT(message_for(scratch, kBoot + drive_with("path = 1\nsize = \"1G\"")),
             Catch::StartsWith("<dir>/guest.toml:5:1: drive[0].size: unknown key"));
  CHECK_THAT(
      message_for(scratch, "[machine]\nvcpus = 0\n" + kBoot + net_with("tap = \"t\"\nx = 1")),
      Catch::StartsWith("<dir>/guest.toml:7:1: net[0].x: unknown key"));
  // Of two, the one higher up the file.
  CHECK_THAT(message_for(scratch, kBoot + net_with("tap = \"t\"\nzz = 1") +
                                      drive_with("path = \"a\"\naa = 1") + "[rng]\nmm = 1\n"),
             Catch::StartsWith("<dir>/guest.toml:5:1: net[0].zz: unknown key"));
  CHECK_THAT(message_for(scratch, drive_with("path = \"a\"\nbb = 1") + "[boot]\naa = 1\n"),
             Catch::StartsWith("<dir>/guest.toml:3:1: drive[0].bb: unknown key"));
}

TEST_CASE("config devices errors: a drive image that cannot be used is DEVICE_INIT_FAILURE") {
  ScratchDir scratch;
  scratch.write("disk.img", "");
  scratch.write("folder/file", "");
  auto device_failure = [&](const std::string& text) {
    return message_for(scratch, kBoot + text, ExitCode::kDeviceInitializationFailure);
  };
  CHECK(device_failure(drive_with("path = \"nope.img\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: <dir>/nope.img: No such file or directory");
  CHECK(device_failure(drive_with("path = \"disk.img\"") +
                       drive_with("path = \"../gone.img\"\nread_only = true")) ==
        "<dir>/guest.toml:6:8: drive[1].path: " +
            (scratch.dir().parent_path() / "gone.img").string() + ": No such file or directory");
  CHECK(device_failure(drive_with("path = \"folder\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: <dir>/folder: not a regular file or block device");
  CHECK(device_failure(drive_with("path = \"/dev/null\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: /dev/null: not a regular file or block device");
  CHECK(device_failure(drive_with("path = \"disk.img/x\"")) ==
        "<dir>/guest.toml:4:8: drive[0].path: <dir>/disk.img/x: Not a directory");
  fs::create_symlink(scratch / "disk.img", scratch / "link.img");
  CHECK(drives(parse_ok(scratch, drive_with("path = \"link.img\"")))[0].path ==
        scratch / "link.img");
}

TEST_CASE("config devices errors: a config mistake wins over a missing kernel or image") {
  ScratchDir scratch;
  const std::string no_kernel = "[boot]\nkernel = \"nope\"\n";
  const std::string no_image = drive_with("path = \"nope.img\"");
  CHECK_THAT(message_for(scratch, no_kernel + no_image + net_with("tap = \"a/b\"")),
             Catch::Contains("net[0].tap"));
  CHECK_THAT(message_for(scratch, no_kernel + no_image + "[rng]\nenabled = 1\n"),
             Catch::Contains("rng.enabled"));
  CHECK_THAT(message_for(scratch, no_kernel + no_image + drive_with("path = \"nope.img\"")),
             Catch::Contains("drive[1].path: <dir>/nope.img is already used"));
  // Then the kernel (KERNEL_LOAD_FAILURE) before the images.
  CHECK_THAT(message_for(scratch, no_kernel + no_image, ExitCode::kKernelLoadFailure),
             Catch::Contains("boot.kernel"));
  CHECK_THAT(message_for(scratch, kBoot + no_image, ExitCode::kDeviceInitializationFailure),
             Catch::Contains("drive[0].path"));
}

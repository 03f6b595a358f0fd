// The device tables of the TOML config: [[drive]] (virtio-blk), [[net]] (virtio-net),
// [[share]] (virtio-fs), [rng] (virtio-rng), and [test_exit] (petrel's test-exit device). Keys of
// array entries are named with the entry's index, counted from 0: "drive[1].path".
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/config_section.h"

namespace petrel::config_detail {

namespace {

constexpr std::array<std::string_view, 3> kDriveKeys = {"path", "read_only", "id"};
constexpr std::array<std::string_view, 2> kNetKeys = {"tap", "mac"};
constexpr std::array<std::string_view, 4> kShareKeys = {"path", "tag", "read_only", "socket"};
// [rng] and [test_exit] take the same single key.
constexpr std::array<std::string_view, 1> kEnabledOnlyKeys = {"enabled"};

// The entries of [[key]], at most `limit` of them.
Result<std::vector<Section>> entries(const Section& root, std::string_view key, size_t limit,
                                     std::string_view plural) {
  auto tables = TRY(root.sections(key));
  if (tables.size() > limit) {
    return tables[limit].bad_table(fmt::format("more than {} {}", limit, plural));
  }
  return tables;
}

Result<Config::Drive> read_drive(const Section& entry, const std::filesystem::path& source) {
  Config::Drive drive;
  auto path = TRY(read_path(entry, "path", source));
  if (!path) return entry.missing("path", "key");
  drive.path = std::move(*path);

  auto read_only = TRY(entry.boolean("read_only"));
  drive.read_only = read_only.value_or(false);

  auto id = TRY(entry.string("id"));
  drive.id = id.value_or("");
  // The guest gets the id as raw bytes (VIRTIO_BLK_T_GET_ID) and shows it in
  // /sys/block/vd*/serial and /dev/disk/by-id: no room for more, nor for control bytes.
  if (drive.id.size() > kMaxDriveIdBytes) {
    return entry.bad("id", fmt::format("{} is {} bytes, more than the {} of a drive id",
                                       quote_value(drive.id), drive.id.size(), kMaxDriveIdBytes));
  }
  if (!std::ranges::all_of(drive.id, [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return entry.bad("id", fmt::format("{} is not printable ASCII", quote_value(drive.id)));
  }
  return drive;
}

Result<> read_drives(const Section& root, const std::filesystem::path& source,
                     std::vector<Config::Drive>& drives) {
  auto tables = TRY(entries(root, "drive", kMaxDrives, "drives"));
  for (size_t i = 0; i < tables.size(); ++i) {
    const Section& entry = tables[i];
    auto drive = TRY(read_drive(entry, source));
    // Two devices on one image would corrupt it; the second would not even get its lock.
    // Paths are compared as written, made absolute and normal, not through links.
    for (size_t earlier = 0; earlier < i; ++earlier) {
      if (drives[earlier].path == drive.path) {
        return entry.bad("path", fmt::format("{} is already used by drive[{}]",
                                             printable(drive.path.string()), earlier));
      }
    }
    drives.push_back(std::move(drive));
  }
  return {};
}

// What Linux's dev_valid_name() accepts: 1 to IFNAMSIZ - 1 bytes, no '/', ':' or
// whitespace, not "." or "..". A NUL would end the name early.
Result<> check_tap_name(const Section& entry, const std::string& tap) {
  if (tap.empty()) return entry.bad("tap", "empty interface name");
  if (tap.size() > kMaxTapNameBytes) {
    return entry.bad("tap", fmt::format("{} is {} bytes, more than the {} of an interface name",
                                        quote_value(tap), tap.size(), kMaxTapNameBytes));
  }
  constexpr std::string_view kForbidden("/: \t\n\v\f\r\0", 10);
  if (tap == "." || tap == ".." || tap.find_first_of(kForbidden) != std::string::npos) {
    return entry.bad("tap", fmt::format("{} is not an interface name (no '/', ':', whitespace or "
                                        "NUL; not \".\" or \"..\")",
                                        quote_value(tap)));
  }
  return {};
}

// "52:54:00:12:34:56": six pairs of hex digits (either case) separated by ':'.
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 6> mac{};
  if (text.size() != 3 * mac.size() - 1) return std::nullopt;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    const int high = digit(text[3 * i]);
    const int low = digit(text[3 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    mac[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return mac;
}

Result<Config::Net> read_net(const Section& entry) {
  Config::Net net;
  auto tap = TRY(entry.string("tap"));
  if (!tap) return entry.missing("tap", "key");
  TRY(check_tap_name(entry, *tap));
  net.tap = std::move(*tap);

  auto text = TRY(entry.string("mac"));
  if (text) {
    const auto mac = parse_mac(*text);
    if (!mac) {
      return entry.bad("mac", fmt::format("{} is not a MAC address (six hex pairs separated by "
                                          "':', e.g. \"52:54:00:12:34:56\")",
                                          quote_value(*text)));
    }
    // Bit 0 of the first byte marks a group address, which no interface may have; nor may
    // it have all zeros (Linux's is_valid_ether_addr()).
    if (((*mac)[0] & 1) != 0) {
      return entry.bad("mac", fmt::format("{} is a multicast address (the first byte must be even)",
                                          quote_value(*text)));
    }
    if (std::ranges::all_of(*mac, [](uint8_t byte) { return byte == 0; })) {
      return entry.bad("mac", fmt::format("{} is the all-zero address", quote_value(*text)));
    }
    net.mac = *mac;
  }
  return net;
}

Result<> read_nets(const Section& root, std::vector<Config::Net>& nets) {
  auto tables = TRY(entries(root, "net", kMaxNets, "nets"));
  for (size_t i = 0; i < tables.size(); ++i) {
    const Section& entry = tables[i];
    auto net = TRY(read_net(entry));
    // A tap interface carries one device's frames: the second open would fail with EBUSY.
    for (size_t earlier = 0; earlier < i; ++earlier) {
      if (nets[earlier].tap == net.tap) {
        return entry.bad(
            "tap", fmt::format("{} is already used by net[{}]", quote_value(net.tap), earlier));
      }
    }
    nets.push_back(std::move(net));
  }
  return {};
}

// The guest reads the tag as raw bytes from the device's config space and `mount -t
// virtiofs TAG` names it on a command line: printable ASCII without spaces keeps both simple.
Result<> check_share_tag(const Section& entry, const std::string& tag) {
  if (tag.empty()) return entry.bad("tag", "empty tag");
  if (tag.size() > kMaxShareTagBytes) {
    return entry.bad("tag", fmt::format("{} is {} bytes, more than the {} of a virtiofs tag",
                                        quote_value(tag), tag.size(), kMaxShareTagBytes));
  }
  if (!std::ranges::all_of(tag, [](char c) { return c > 0x20 && c <= 0x7e; })) {
    return entry.bad("tag",
                     fmt::format("{} is not printable ASCII without spaces", quote_value(tag)));
  }
  return {};
}

Result<Config::Share> read_share(const Section& entry, const std::filesystem::path& source) {
  Config::Share share;
  auto socket = TRY(read_path(entry, "socket", source));
  auto path = TRY(read_path(entry, "path", source));
  auto read_only = TRY(entry.boolean("read_only"));
  share.read_only = read_only.value_or(false);
  if (socket) {
    // sockaddr_un holds the path with its NUL.
    if ((socket)->native().size() >= sizeof(sockaddr_un::sun_path)) {
      return entry.bad(
          "socket", fmt::format("{} is longer than the {} bytes of a socket path",
                                printable((socket)->string()), sizeof(sockaddr_un::sun_path) - 1));
    }
    // The virtiofsd behind a socket serves the folder and the access its own command line
    // chose; petrel could not honour either.
    if (path) return entry.bad("path", "not with socket: that virtiofsd chose its folder");
    if (share.read_only) {
      return entry.bad("read_only",
                       "not with socket: start that virtiofsd on a read-only folder instead");
    }
    share.socket = std::move(*socket);
  } else {
    if (!path) return entry.missing("path", "key");
    share.path = std::move(*path);
  }

  auto tag = TRY(entry.string("tag"));
  if (!tag) return entry.missing("tag", "key");
  TRY(check_share_tag(entry, *tag));
  share.tag = std::move(*tag);
  return share;
}

Result<> read_shares(const Section& root, const std::filesystem::path& source,
                     std::vector<Config::Share>& shares) {
  auto tables = TRY(entries(root, "share", kMaxShares, "shares"));
  for (size_t i = 0; i < tables.size(); ++i) {
    const Section& entry = tables[i];
    auto share = TRY(read_share(entry, source));
    // The guest finds a share by its tag alone; a virtiofsd serves one connection.
    for (size_t earlier = 0; earlier < i; ++earlier) {
      if (shares[earlier].tag == share.tag) {
        return entry.bad(
            "tag", fmt::format("{} is already used by share[{}]", quote_value(share.tag), earlier));
      }
      if (share.socket && shares[earlier].socket == share.socket) {
        return entry.bad("socket", fmt::format("{} is already used by share[{}]",
                                               printable(share.socket->string()), earlier));
      }
    }
    shares.push_back(std::move(share));
  }
  return {};
}

// [rng], [test_exit]: the table alone asks for the device; `enabled = false` keeps it in
// the file but off.
Result<> read_enabled_table(const Section& root, std::string_view name, bool& enabled) {
  auto section = TRY(root.section(name, false));
  if (!section) return {};
  auto value = TRY((section)->boolean("enabled"));
  enabled = value.value_or(true);
  return {};
}

}  // namespace

void find_unknown_device_keys(const toml::table& document, std::optional<UnknownKey>& first) {
  constexpr std::array<std::pair<std::string_view, std::span<const std::string_view>>, 3> kArrays =
      {{{"drive", kDriveKeys}, {"net", kNetKeys}, {"share", kShareKeys}}};
  for (const auto& [name, keys] : kArrays) {
    const toml::array* array = document.get_as<toml::array>(name);
    if (array == nullptr) continue;
    for (size_t i = 0; i < array->size(); ++i) {
      if (const toml::table* table = array->get_as<toml::table>(i)) {
        find_unknown_keys(*table, fmt::format("{}[{}]", name, i), keys, first);
      }
    }
  }
  for (const std::string_view name : {"rng", "test_exit"}) {
    if (const toml::table* table = document.get_as<toml::table>(name)) {
      find_unknown_keys(*table, name, kEnabledOnlyKeys, first);
    }
  }
}

Result<> read_devices(const Section& root, const std::filesystem::path& source, Config& config) {
  TRY(read_drives(root, source, config.drives));
  TRY(read_nets(root, config.nets));
  TRY(read_shares(root, source, config.shares));
  TRY(read_enabled_table(root, "rng", config.rng.enabled));
  return read_enabled_table(root, "test_exit", config.test_exit.enabled);
}

Result<> check_drive_files(const Section& root, const Config& config) {
  // read_devices() accepted these entries, so they are there and well typed.
  const std::vector<Section> tables = root.sections("drive").value();
  for (size_t i = 0; i < config.drives.size(); ++i) {
    const Config::Drive& drive = config.drives[i];
    const auto why = unusable_file(drive.path, drive.read_only ? O_RDONLY : O_RDWR, true);
    if (!why) continue;
    const Section& entry = tables[i];
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: {}: {}: {}", entry.at("path"), entry.name("path"),
                            printable(drive.path.string()), *why));
  }
  return {};
}

Result<> check_share_folders(const Section& root, const Config& config) {
  const std::vector<Section> tables = root.sections("share").value();
  for (size_t i = 0; i < config.shares.size(); ++i) {
    const Config::Share& share = config.shares[i];
    if (share.socket) continue;
    struct stat info {};
    std::string why;
    if (stat(share.path.c_str(), &info) != 0) {
      why = strerror(errno);
    } else if (!S_ISDIR(info.st_mode)) {
      why = "not a folder";
    } else {
      continue;
    }
    const Section& entry = tables[i];
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: {}: {}: {}", entry.at("path"), entry.name("path"),
                            printable(share.path.string()), why));
  }
  return {};
}

}  // namespace petrel::config_detail

// The device registry drives the config, the flags and the docs: every registered kind is
// complete, has a place in the arch's address map if it is a platform device, and is
// documented in petrel.toml(5) and petrel(1) exactly as registered, key by key.
#include "devices/registry.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "arch/arm64/layout.h"

using namespace petrel;

namespace {

std::string read_man(const std::string& page) {
  std::ifstream file(std::string(PETREL_SOURCE_DIR) + "/man/" + page);
  REQUIRE(file);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The lines of one section (from its .SH line to the next).
std::vector<std::string> section_lines(const std::string& page, const std::string& heading) {
  std::istringstream text(page);
  std::vector<std::string> lines;
  bool inside = false;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(".SH ", 0) == 0) {
      if (inside) break;
      inside = line == ".SH " + heading;
      continue;
    }
    if (inside) lines.push_back(line);
  }
  return lines;
}

// `.BR key " (type...)"`: the keys a section documents, with their type text.
std::vector<std::pair<std::string, std::string>> documented_keys(
    const std::vector<std::string>& lines) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const std::string& line : lines) {
    if (line.rfind(".BR ", 0) != 0) continue;
    const size_t open = line.find(" \" (");
    if (open == std::string::npos) continue;
    keys.emplace_back(line.substr(4, open - 4), line.substr(open + 4));
  }
  return keys;
}

}  // namespace

TEST_CASE("registry: every kind is complete, once") {
  std::set<std::string_view> tables;
  for (const DeviceType* type : device_types()) {
    const DeviceConfigKind& kind = type->config;
    INFO(kind.table);
    CHECK(tables.insert(kind.table).second);
    CHECK(kind.read != nullptr);
    CHECK_FALSE(kind.keys.empty());
    CHECK(device_type(&kind) == type);
    if (kind.repeated) {
      CHECK(kind.max_entries > 0);
      CHECK_FALSE(kind.plural.empty());
    }
    // Exactly one way to be made: behind a virtio transport, or as a platform device the
    // arch's map has a window for.
    CHECK((type->make_virtio != nullptr) != (type->make_platform != nullptr));
    if (type->make_virtio != nullptr) CHECK(type->virtio_id != 0);
    if (type->make_platform != nullptr) CHECK(arm64::platform_device_base(kind.table).has_value());
  }
  CHECK(device_kinds().size() == device_types().size());
  CHECK(device_type(nullptr) == nullptr);
}

TEST_CASE("registry: petrel.toml(5) documents each kind's keys as registered, and no others") {
  const std::string page = read_man("petrel.toml.5");
  for (const DeviceType* type : device_types()) {
    const DeviceConfigKind& kind = type->config;
    const std::string heading =
        kind.repeated ? "[[" + std::string(kind.table) + "]]" : "[" + std::string(kind.table) + "]";
    INFO(heading);
    const auto documented = documented_keys(section_lines(page, heading));
    REQUIRE(documented.size() == kind.keys.size());
    for (size_t i = 0; i < kind.keys.size(); ++i) {
      CHECK(documented[i].first == kind.keys[i].name);
      CHECK(documented[i].second.rfind(kind.keys[i].type, 0) == 0);
    }
    if (kind.repeated) {
      CHECK(
          section_lines(page, heading).front().find(fmt::format("at most {}", kind.max_entries)) !=
          std::string::npos);
    }
  }
}

TEST_CASE("registry: petrel(1) documents each kind's flag") {
  const std::string page = read_man("petrel.1");
  for (const DeviceType* type : device_types()) {
    const DeviceFlag& flag = type->config.flag;
    if (flag.form == DeviceFlag::Form::kNone) continue;
    std::string escaped;
    for (const char c : flag.name) escaped += c == '-' ? std::string("\\-") : std::string(1, c);
    INFO(flag.name);
    const std::string line =
        (flag.form == DeviceFlag::Form::kSwitch ? ".B \\-\\-" : ".BI \\-\\-") + escaped;
    CHECK(page.find("\n" + line) != std::string::npos);
  }
}

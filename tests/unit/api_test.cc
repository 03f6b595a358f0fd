// The control socket: request routing and body decoding driven directly (no socket), every
// error status, and the server over a real Unix socket. (The [api] config keys:
// config_api_test.cc.) Needs only vmm/api*.cc and headers, so it also builds on its own.
#include "vmm/api.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/unique_fd.h"
#include "core/version.h"
#include "devices/virtio_block.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"
#include "vmm/api_server.h"

using namespace petrel;
using namespace petrel::api;
using nlohmann::json;

namespace {

// A private folder for the sockets, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "petrel-api-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
};

class FakeGuest final : public GuestControl {
 public:
  FakeGuest() {
    config_.name = "guest-1";
    config_.machine.vcpus = 2;
    config_.machine.memory_bytes = 256ull << 20;
  }
  std::string id() const override { return "guest-1"; }
  PublicState state() const override { return state_; }
  const Config& config() const override { return config_; }
  Result<> pause() override {
    ++pauses;
    if (state_ == PublicState::kNotStarted) {
      return fail(ExitCode::kNotCreated, "Pause: the guest has not started yet");
    }
    state_ = PublicState::kPaused;
    return {};
  }
  Result<> resume() override {
    ++resumes;
    if (state_ == PublicState::kNotStarted) {
      return fail(ExitCode::kNotCreated, "Resume: the guest has not started yet");
    }
    state_ = PublicState::kRunning;
    return {};
  }
  bool press_power_button() override {
    ++presses;
    return has_button;
  }
  void stop(std::optional<std::chrono::milliseconds> grace) override {
    ++stops;
    stop_grace = grace;
  }

  Config config_;
  PublicState state_ = PublicState::kRunning;
  bool has_button = true;
  int pauses = 0, resumes = 0, presses = 0, stops = 0;
  std::optional<std::chrono::milliseconds> stop_grace;
};

Response send(std::string method, std::string target, std::string body = "") {
  FakeGuest guest;
  return handle_request({std::move(method), std::move(target), std::move(body)}, guest);
}

// The fault message of a response, which must be a JSON object holding nothing else.
std::string fault_of(const Response& response) {
  const json body = json::parse(response.body);
  REQUIRE(body.is_object());
  REQUIRE(body.size() == 1);
  return body.at("fault_message").get<std::string>();
}

std::string action_fault(const std::string& body) {
  const Response response = send("PUT", "/actions", body);
  CHECK(response.status == 400);
  return fault_of(response);
}

}  // namespace

TEST_CASE("api: GET / reports the id, the public state and the version") {
  FakeGuest guest;
  for (auto [state, name] :
       {std::pair{PublicState::kNotStarted, "Not started"},
        std::pair{PublicState::kRunning, "Running"}, std::pair{PublicState::kPaused, "Paused"}}) {
    guest.state_ = state;
    const Response response = handle_request({"GET", "/", ""}, guest);
    CHECK(response.status == 200);
    CHECK(json::parse(response.body) == json{{"app_name", "petrel"},
                                             {"id", "guest-1"},
                                             {"state", name},
                                             {"vmm_version", kVersion}});
  }
  // A query string selects nothing.
  CHECK(send("GET", "/?verbose=1").status == 200);
}

TEST_CASE("api: GET /machine-config") {
  const Response response = send("GET", "/machine-config");
  CHECK(response.status == 200);
  CHECK(json::parse(response.body) ==
        json{{"vcpu_count", 2}, {"mem_size_mib", 256}, {"smt", false}});
}

TEST_CASE("api: GET /vm/config gives Firecracker's FullVmConfiguration of the guest") {
  FakeGuest guest;
  guest.config_.boot.kernel = "/guests/Image";
  guest.config_.boot.initrd = "/guests/initrd.gz";
  guest.config_.boot.cmdline = "console=ttyAMA0";
  guest.config_.devices.push_back(
      {&virtio::kDriveType.config, 0, virtio::DriveConfig{"/images/root.img", true, "rootfs"}});
  guest.config_.devices.push_back(
      {&virtio::kDriveType.config, 1, virtio::DriveConfig{"/images/data.img"}});
  guest.config_.devices.push_back(
      {&virtio::kNetType.config, 0,
       virtio::NetConfig{"tap0", std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0xab}}});
  guest.config_.devices.push_back({&virtio::kRngType.config, 0, {}});
  const Response response = handle_request({"GET", "/vm/config", ""}, guest);
  CHECK(response.status == 200);
  CHECK(
      json::parse(response.body) ==
      json{
          {"boot-source",
           {{"kernel_image_path", "/guests/Image"},
            {"initrd_path", "/guests/initrd.gz"},
            {"boot_args", "console=ttyAMA0"}}},
          {"machine-config", {{"vcpu_count", 2}, {"mem_size_mib", 256}, {"smt", false}}},
          {"drives",
           {{{"drive_id", "rootfs"},
             {"path_on_host", "/images/root.img"},
             {"is_read_only", true},
             {"is_root_device", false},
             {"cache_type", "Unsafe"},
             {"io_engine", "Sync"}},
            {{"drive_id", "vdb"},
             {"path_on_host", "/images/data.img"},
             {"is_read_only", false},
             {"is_root_device", false},
             {"cache_type", "Unsafe"},
             {"io_engine", "Sync"}}}},
          {"network-interfaces",
           {{{"iface_id", "eth0"}, {"host_dev_name", "tap0"}, {"guest_mac", "02:00:00:00:00:ab"}}}},
          {"entropy", json::object()}});
}

TEST_CASE("api: PUT /actions: InstanceStart and FlushMetrics are 400 in this mode") {
  CHECK(action_fault(R"({"action_type": "InstanceStart"})") ==
        "InstanceStart: the guest was started by `petrel run` itself");
  CHECK(action_fault(R"({"action_type": "FlushMetrics"})") == "metrics are not configured");
}

TEST_CASE("api: SendCtrlAltDel presses the power button of a running guest") {
  FakeGuest guest;
  const Request press{"PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})"};
  CHECK(handle_request(press, guest) == Response{204, ""});
  CHECK(guest.presses == 1);
  guest.has_button = false;
  Response response = handle_request(press, guest);
  CHECK(response.status == 400);
  CHECK(fault_of(response) ==
        "SendCtrlAltDel: this guest has no power button to press (add [power_button] or "
        "--power-button)");
  guest.has_button = true;
  guest.state_ = PublicState::kPaused;
  response = handle_request(press, guest);
  CHECK(response.status == 400);
  CHECK(fault_of(response) == "SendCtrlAltDel: the guest is not running (state: Paused)");
  CHECK(guest.presses == 2);  // not pressed while paused
}

TEST_CASE("api: the Stop action asks for SIGTERM's stop, with an optional grace") {
  FakeGuest guest;
  CHECK(handle_request({"PUT", "/actions", R"({"action_type": "Stop"})"}, guest).status == 204);
  CHECK(guest.stops == 1);
  CHECK_FALSE(guest.stop_grace.has_value());
  CHECK(handle_request({"PUT", "/actions", R"({"action_type": "Stop", "grace_ms": 2500})"}, guest)
            .status == 204);
  CHECK(guest.stop_grace == std::chrono::milliseconds(2500));
  CHECK(action_fault(R"({"action_type": "Stop", "grace_ms": -1})") ==
        "grace_ms: expected milliseconds from 0 to 86400000, got -1");
  CHECK(action_fault(R"({"action_type": "Stop", "grace_ms": "10s"})") ==
        "grace_ms: expected milliseconds from 0 to 86400000, got \"10s\"");
  CHECK(action_fault(R"({"action_type": "FlushMetrics", "grace_ms": 1})") ==
        "grace_ms: only the Stop action takes a grace period");
}

TEST_CASE("api: PATCH /vm pauses and resumes; mistakes are 400 and change nothing") {
  FakeGuest guest;
  CHECK(handle_request({"PATCH", "/vm", R"({"state": "Paused"})"}, guest) == Response{204, ""});
  CHECK(guest.state_ == PublicState::kPaused);
  CHECK(handle_request({"PATCH", "/vm", R"({"state": "Paused"})"}, guest) == Response{204, ""});
  CHECK(handle_request({"PATCH", "/vm", R"({"state": "Resumed"})"}, guest) == Response{204, ""});
  CHECK(guest.state_ == PublicState::kRunning);
  CHECK(guest.pauses == 2);
  CHECK(guest.resumes == 1);

  auto patch_fault = [&guest](const std::string& body) {
    const Response response = handle_request({"PATCH", "/vm", body}, guest);
    CHECK(response.status == 400);
    return fault_of(response);
  };
  CHECK(patch_fault(R"({"state": "Stopped"})") ==
        "state: \"Stopped\" is not one of Paused, Resumed");
  CHECK(patch_fault(R"({"state": 1})") == "state: expected a string, got a number");
  CHECK(patch_fault(R"({"state": "Paused", "when": "now"})") ==
        "unknown field \"when\" (known: state)");
  CHECK(patch_fault("{}") == "missing field 'state'");
  CHECK(guest.pauses == 2);  // none of those reached the guest
  guest.state_ = PublicState::kNotStarted;
  CHECK(patch_fault(R"({"state": "Paused"})") == "Pause: the guest has not started yet");
  CHECK(decode_vm_state(R"({"state":"Resumed"})") == VmState::kResumed);
}

TEST_CASE("api: PUT /actions bodies that do not decode name the field") {
  CHECK(action_fault("") == "the request needs a JSON body");
  CHECK_THAT(action_fault("{\"action_type\": "), Catch::StartsWith("the body is not valid JSON: "));
  CHECK_THAT(action_fault("{} trailing"), Catch::StartsWith("the body is not valid JSON: "));
  CHECK(action_fault("[1]") == "the body must be a JSON object, not an array");
  CHECK(action_fault("\"x\"") == "the body must be a JSON object, not a string");
  CHECK(action_fault("{}") == "missing field 'action_type'");
  CHECK(action_fault(R"({"action_type": 7})") == "action_type: expected a string, got a number");
  CHECK(action_fault(R"({"action_type": null})") == "action_type: expected a string, got null");
  CHECK(action_fault(R"({"action_type": "Reboot"})") ==
        "action_type: \"Reboot\" is not one of InstanceStart, FlushMetrics, SendCtrlAltDel, "
        "Stop");
  CHECK(action_fault(R"({"action_type": "FlushMetrics", "force": true})") ==
        "unknown field \"force\" (known: action_type, grace_ms)");
  CHECK(action_fault(std::string(5000, '[') + std::string(5000, ']')) ==
        "the body nests deeper than 8 levels");
  CHECK_THAT(action_fault("{\"action_type\": \"\xff\"}"),
             Catch::StartsWith("the body is not valid JSON: "));
}

TEST_CASE("api: decode_action is a pure function of the body") {
  CHECK(decode_action(R"({"action_type":"SendCtrlAltDel"})") ==
        Action{ActionType::kSendCtrlAltDel, std::nullopt});
  CHECK(decode_action(R"( { "action_type" : "InstanceStart" } )") ==
        Action{ActionType::kInstanceStart, std::nullopt});
  CHECK_FALSE(decode_action("{\"action_type\":\"FlushMetrics\"").has_value());
}

TEST_CASE("api: any other method or path is 400 naming both") {
  for (auto [method, target] : {std::pair{"GET", "/nope"}, std::pair{"PUT", "/"},
                                std::pair{"GET", "/actions"}, std::pair{"POST", "/actions"},
                                std::pair{"PATCH", "/machine-config"}, std::pair{"GET", ""}}) {
    const Response response = send(method, target);
    CHECK(response.status == 400);
    CHECK(fault_of(response) ==
          fmt::format("Invalid request method and/or path: {} {}", method, target));
  }
  // Bytes that are not UTF-8 still give a JSON body.
  const Response response = send("GET", "/\xff\xfe");
  CHECK(response.status == 400);
  CHECK_THAT(fault_of(response), Catch::StartsWith("Invalid request method and/or path: GET /"));
}

namespace {

UniqueFd connect_to(const std::filesystem::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  timeval limit{5, 0};  // a broken server fails the test rather than hanging it
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  return fd;
}

void write_all(const UniqueFd& fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t sent = ::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // the server may close early (413)
    text.remove_prefix(static_cast<size_t>(sent));
  }
}

// Everything until the server closes the connection (or 5 s pass).
std::string read_all(const UniqueFd& fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
    if (got <= 0) return text;
    text.append(buffer, static_cast<size_t>(got));
  }
}

std::string round_trip(const std::filesystem::path& path, std::string_view request) {
  const UniqueFd fd = connect_to(path);
  write_all(fd, request);
  return read_all(fd);
}

}  // namespace

TEST_CASE("api: the server answers over a Unix socket and bounds its clients") {
  TempDir scratch;
  const std::filesystem::path path = scratch / "guest.sock";
  FakeGuest guest;
  ServerLimits limits;
  limits.request_timeout = std::chrono::milliseconds(300);
  limits.max_connections = 2;
  {
    auto server = Server::start(path, guest, limits);
    REQUIRE(server);
    struct stat status {};
    REQUIRE(::lstat(path.c_str(), &status) == 0);
    CHECK(S_ISSOCK(status.st_mode));
    CHECK((status.st_mode & 0777) == 0600);

    std::string reply = round_trip(path, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 200 OK\r\n") &&
                          Catch::Contains("Content-Type: application/json") &&
                          Catch::EndsWith(R"("state":"Running","vmm_version":"0.1.0"})"));

    // Keep-alive: two requests on one connection, then the client closes.
    {
      const UniqueFd fd = connect_to(path);
      write_all(fd, "GET /machine-config HTTP/1.1\r\nHost: x\r\n\r\n");
      write_all(fd,
                "PUT /actions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: "
                "close\r\n\r\n{}");
      reply = read_all(fd);
      CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 200 OK\r\n") &&
                            Catch::Contains(R"({"mem_size_mib":256,"smt":false,"vcpu_count":2})") &&
                            Catch::Contains("HTTP/1.1 400 Bad Request\r\n") &&
                            Catch::EndsWith(R"({"fault_message":"missing field 'action_type'"})"));
    }

    // A body over the limit: 413, whatever it holds.
    reply = round_trip(path, "PUT /actions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                                 std::string(100000, ' '));
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 413 Payload Too Large\r\n") &&
                          Catch::Contains("fault_message"));
    // Headers over the limit: 400.
    reply = round_trip(
        path, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n");
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 400 Bad Request\r\n") &&
                          Catch::Contains("request line and headers are larger than 8192 bytes"));
    // Not HTTP at all: 400, then closed.
    reply = round_trip(path, "hello\r\n\r\n");
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 400 Bad Request\r\n") &&
                          Catch::Contains("malformed HTTP request"));

    // An idle client is cut off after the timeout; a slow one (half a request) too.
    const auto before = std::chrono::steady_clock::now();
    const UniqueFd idle = connect_to(path);
    const UniqueFd slow = connect_to(path);
    write_all(slow, "GET / HTTP/1.1\r\n");
    // At the cap of 2: a third connection is closed at once, without an answer.
    CHECK(round_trip(path, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").empty());
    CHECK(read_all(idle).empty());
    CHECK(read_all(slow).empty());
    const auto waited = std::chrono::steady_clock::now() - before;
    CHECK(waited >= std::chrono::milliseconds(250));
    CHECK(waited < std::chrono::seconds(4));
    // Below the cap again once those are gone.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK_THAT(round_trip(path, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
               Catch::StartsWith("HTTP/1.1 200 OK\r\n"));

    // A second server on the same path: the socket is in use.
    CHECK_FALSE(remove_stale_socket(path));
  }
  // Gone with the server.
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("api: a stale socket is removed, anything else at the path is kept") {
  TempDir scratch;
  const std::filesystem::path path = scratch / "stale.sock";
  CHECK(remove_stale_socket(path));  // nothing there

  // A socket bound and closed, as a SIGKILLed petrel leaves it.
  {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  REQUIRE(std::filesystem::exists(path));
  FakeGuest guest;
  CHECK_FALSE(Server::start(path, guest));  // in the way until removed
  CHECK(remove_stale_socket(path));
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(Server::start(path, guest));

  { std::ofstream(scratch / "file.sock") << "not a socket"; }
  auto refused = remove_stale_socket(scratch / "file.sock");
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::EndsWith("exists and is not a socket"));
  CHECK(std::filesystem::exists(scratch / "file.sock"));
}

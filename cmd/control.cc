#include "cmd/control.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/instance_lock.h"
#include "vmm/api_client.h"

namespace petrel {

namespace {

using nlohmann::json;

ExitCode report(const Error& error) {
  spdlog::error("{}", error.message);
  return error.code;
}

std::filesystem::path runtime_dir(const ControlOptions& options) {
  return options.runtime_dir.value_or(default_runtime_dir());
}

Result<std::filesystem::path> socket_of(const ControlOptions& options) {
  if (options.api_sock) return *options.api_sock;
  if (options.name.empty()) {
    return fail(ExitCode::kBadConfig, "name the guest (NAME) or its socket (--api-sock PATH)");
  }
  return runtime_dir(options) / (options.name + ".sock");
}

// The fault message of a 4xx/5xx answer, or the raw body if it is not one.
std::string fault_message(const api::Reply& reply) {
  const json body = json::parse(reply.body, nullptr, false);
  if (body.is_object() && body.contains("fault_message") && body["fault_message"].is_string()) {
    return body["fault_message"].get<std::string>();
  }
  return fmt::format("HTTP {}: {}", reply.status, reply.body);
}

// One request whose answer must be `want`; its body then.
Result<api::Reply> ask(const std::filesystem::path& socket, std::string_view method,
                       std::string_view target, std::string_view body, unsigned want) {
  auto reply = TRY(api::call(socket, method, target, body));
  if (reply.status != want) {
    // A 400 here is a guest that cannot do it now (not running, no power button).
    return fail(reply.status == 400 ? ExitCode::kNotCreated : ExitCode::kInternalError,
                fault_message(reply));
  }
  return reply;
}

// Seconds since `pid` started, from /proc (the 22nd field of stat, in clock ticks since
// boot); none when it cannot be read.
std::optional<double> uptime_seconds(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t after_name = text.rfind(')');
  if (after_name == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(after_name + 2));
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index) {
    if (index != 22) continue;
    double since_boot = 0;
    std::ifstream uptime("/proc/uptime");
    if (!(uptime >> since_boot)) return std::nullopt;
    return since_boot - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

Result<json> status_of(const std::filesystem::path& socket) {
  const api::Reply info = TRY(ask(socket, "GET", "/", "", 200));
  const api::Reply machine = TRY(ask(socket, "GET", "/machine-config", "", 200));
  json status = json::parse(info.body, nullptr, false);
  const json config = json::parse(machine.body, nullptr, false);
  if (!status.is_object() || !config.is_object()) {
    return fail(ExitCode::kInternalError,
                fmt::format("control socket {}: the answer is not JSON", socket.string()));
  }
  status["vcpu_count"] = config.value("vcpu_count", 0);
  status["mem_size_mib"] = config.value("mem_size_mib", 0);
  status["pid"] = info.server_pid;
  if (auto uptime = uptime_seconds(info.server_pid)) status["uptime_s"] = *uptime;
  status["socket"] = socket.string();
  return status;
}

}  // namespace

ExitCode status_command(const ControlOptions& options) {
  auto socket = socket_of(options);
  if (!socket) return report(socket.error());
  auto status = status_of(*socket);
  if (!status) return report(status.error());
  if (options.json) {
    std::puts(status->dump().c_str());
    return ExitCode::kPoweredOff;
  }
  const json& s = *status;
  std::string uptime = s.contains("uptime_s")
                           ? fmt::format(", up {:.1f} s", s["uptime_s"].get<double>())
                           : std::string();
  std::puts(fmt::format("{}: {}, {} vCPU(s), {} MiB, pid {}{}", s.value("id", std::string("?")),
                        s.value("state", std::string("?")), s["vcpu_count"].get<uint64_t>(),
                        s["mem_size_mib"].get<uint64_t>(), s["pid"].get<int64_t>(), uptime)
                .c_str());
  return ExitCode::kPoweredOff;
}

namespace {
ExitCode patch_state(const ControlOptions& options, std::string_view state) {
  auto socket = socket_of(options);
  if (!socket) return report(socket.error());
  auto done = ask(*socket, "PATCH", "/vm", fmt::format(R"({{"state": "{}"}})", state), 204);
  if (!done) return report(done.error());
  return ExitCode::kPoweredOff;
}
}  // namespace

ExitCode pause_command(const ControlOptions& options) { return patch_state(options, "Paused"); }
ExitCode resume_command(const ControlOptions& options) { return patch_state(options, "Resumed"); }

ExitCode stop_command(const ControlOptions& options) {
  auto socket = socket_of(options);
  if (!socket) return report(socket.error());
  json body = {{"action_type", "Stop"}};
  if (options.grace) body["grace_ms"] = options.grace->count();
  auto done = ask(*socket, "PUT", "/actions", body.dump(), 204);
  if (!done) return report(done.error());
  return ExitCode::kPoweredOff;
}

// The guests whose control socket answers, in the runtime folder; a socket left by a
// killed run answers nothing and is not listed.
ExitCode list_command(const ControlOptions& options) {
  const std::filesystem::path folder = runtime_dir(options);
  std::error_code error;
  std::vector<std::filesystem::path> sockets;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    if (entry.path().extension() == ".sock" && entry.is_socket(error)) {
      sockets.push_back(entry.path());
    }
  }
  std::sort(sockets.begin(), sockets.end());
  std::vector<json> guests;
  for (const auto& socket : sockets) {
    if (auto status = status_of(socket)) guests.push_back(std::move(*status));
  }
  if (options.json) {
    std::puts(json(guests).dump().c_str());
    return ExitCode::kPoweredOff;
  }
  for (const json& s : guests) {
    std::puts(fmt::format("{}\t{}\tpid {}\t{}", s.value("id", std::string("?")),
                          s.value("state", std::string("?")), s["pid"].get<int64_t>(),
                          s.value("socket", std::string()))
                  .c_str());
  }
  return ExitCode::kPoweredOff;
}

}  // namespace petrel

#include "vmm/api.h"

#include <fmt/format.h>

#include <array>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/version.h"
#include "devices/virtio_block.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"

namespace petrel::api {

namespace {

using nlohmann::json;

// Request bodies here are flat objects; anything nested deeper is refused before it is
// built, so a body of 16 KiB of '[' costs neither stack nor memory.
constexpr int kMaxJsonDepth = 8;

// Client text (the method and path it sent) may be any bytes: invalid UTF-8 is replaced,
// never thrown about.
std::string to_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view public_state_name(PublicState state) {
  switch (state) {
    case PublicState::kNotStarted: return "Not started";
    case PublicState::kRunning: return "Running";
    case PublicState::kPaused: return "Paused";
  }
  return "Not started";
}

std::string_view json_type(const json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  return "null";
}

// The body as a JSON object; the error says what is wrong with it.
Decoded<json> parse_object(std::string_view body) {
  if (body.empty()) return std::unexpected("the request needs a JSON body");
  bool too_deep = false;
  const json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  json value;
  try {
    value = json::parse(body, limit_depth);
  } catch (const json::exception& error) {
    return std::unexpected(fmt::format("the body is not valid JSON: {}", error.what()));
  }
  if (too_deep) {
    return std::unexpected(fmt::format("the body nests deeper than {} levels", kMaxJsonDepth));
  }
  if (!value.is_object()) {
    return std::unexpected(fmt::format("the body must be a JSON object, not {}", json_type(value)));
  }
  return value;
}

// Every key of `object` must be one of `known`.
Decoded<void> only_known_fields(const json& object, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (std::string_view name : known) found = found || key == name;
    if (!found) {
      return std::unexpected(
          fmt::format("unknown field {} (known: {})", to_text(json(key)), fmt::join(known, ", ")));
    }
  }
  return {};
}

// A string field that must be present.
Decoded<std::string> required_string(const json& object, std::string_view field) {
  const auto found = object.find(field);
  if (found == object.end()) return std::unexpected(fmt::format("missing field '{}'", field));
  if (!found->is_string()) {
    return std::unexpected(fmt::format("{}: expected a string, got {}", field, json_type(*found)));
  }
  return found->get<std::string>();
}

Response json_response(unsigned status, const json& body) { return {status, to_text(body)}; }

Response get_info(GuestControl& guest) {
  return json_response(200, {{"app_name", "petrel"},
                             {"id", guest.id()},
                             {"state", public_state_name(guest.state())},
                             {"vmm_version", kVersion}});
}

json machine_config(const Config& config) {
  return {{"vcpu_count", config.machine.vcpus},
          {"mem_size_mib", config.machine.memory_bytes >> 20},
          {"smt", false}};
}

// Firecracker's FullVmConfiguration, with the values petrel uses: a drive without an id
// is named by its guest disk (vda), a net without a MAC by the one petrel made up.
json vm_config(const Config& config) {
  json drives = json::array();
  size_t index = 0;
  for (const virtio::DriveConfig& drive : config.settings_of<virtio::DriveConfig>()) {
    drives.push_back({{"drive_id", drive.id.empty() ? virtio::disk_name(index) : drive.id},
                      {"path_on_host", drive.path.string()},
                      {"is_read_only", drive.read_only},
                      {"is_root_device", false},
                      {"cache_type", "Unsafe"},
                      {"io_engine", "Sync"}});
    ++index;
  }
  json nets = json::array();
  index = 0;
  for (const virtio::NetConfig& net : config.settings_of<virtio::NetConfig>()) {
    const auto mac = net.mac.value_or(virtio::default_mac(config.name, index));
    nets.push_back({{"iface_id", fmt::format("eth{}", index)},
                    {"host_dev_name", net.tap},
                    {"guest_mac", fmt::format("{:02x}", fmt::join(mac, ":"))}});
    ++index;
  }
  json boot = {{"kernel_image_path", config.boot.kernel.string()},
               {"boot_args", config.boot.cmdline}};
  if (config.boot.initrd) boot["initrd_path"] = config.boot.initrd->string();
  json full = {{"boot-source", boot},
               {"machine-config", machine_config(config)},
               {"drives", drives},
               {"network-interfaces", nets}};
  if (config.has_device(virtio::kRngType.config.table)) full["entropy"] = json::object();
  return full;
}

Response get_machine_config(GuestControl& guest) {
  return json_response(200, machine_config(guest.config()));
}

Response no_content() { return {204, ""}; }

Response put_actions(const Request& request, GuestControl& guest) {
  const Decoded<Action> action = decode_action(request.body);
  if (!action) return fault(400, action.error());
  switch (action->type) {
    case ActionType::kInstanceStart:
      return fault(400, "InstanceStart: the guest was started by `petrel run` itself");
    case ActionType::kFlushMetrics: return fault(400, "metrics are not configured");
    case ActionType::kSendCtrlAltDel:
      if (guest.state() != PublicState::kRunning) {
        return fault(400, fmt::format("SendCtrlAltDel: the guest is not running (state: {})",
                                      public_state_name(guest.state())));
      }
      if (!guest.press_power_button()) {
        return fault(400,
                     "SendCtrlAltDel: this guest has no power button to press (add "
                     "[power_button] or --power-button)");
      }
      return no_content();
    case ActionType::kStop: guest.stop(action->grace); return no_content();
  }
  return fault(500, "unhandled action");
}

Response patch_vm(const Request& request, GuestControl& guest) {
  const Decoded<VmState> state = decode_vm_state(request.body);
  if (!state) return fault(400, state.error());
  const Result<> done = *state == VmState::kPaused ? guest.pause() : guest.resume();
  if (!done) return fault(400, done.error().message);
  return no_content();
}

}  // namespace

Response fault(unsigned status, std::string_view message) {
  return json_response(status, {{"fault_message", message}});
}

Decoded<Action> decode_action(std::string_view body) {
  static constexpr std::array<std::pair<std::string_view, ActionType>, 4> kActions = {{
      {"InstanceStart", ActionType::kInstanceStart},
      {"FlushMetrics", ActionType::kFlushMetrics},
      {"SendCtrlAltDel", ActionType::kSendCtrlAltDel},
      {"Stop", ActionType::kStop},
  }};
  const json object = TRY(parse_object(body));
  TRY(only_known_fields(object, {"action_type", "grace_ms"}));
  const std::string type = TRY(required_string(object, "action_type"));
  Action action;
  bool known = false;
  for (const auto& [name, value] : kActions) {
    if (type == name) {
      action.type = value;
      known = true;
    }
  }
  if (!known) {
    return std::unexpected(fmt::format(
        "action_type: {} is not one of InstanceStart, FlushMetrics, SendCtrlAltDel, Stop",
        to_text(json(type))));
  }
  const auto grace = object.find("grace_ms");
  if (grace != object.end()) {
    if (action.type != ActionType::kStop) {
      return std::unexpected("grace_ms: only the Stop action takes a grace period");
    }
    if (!grace->is_number_unsigned() ||
        grace->get<uint64_t>() > static_cast<uint64_t>(kMaxStopGrace.count())) {
      return std::unexpected(fmt::format("grace_ms: expected milliseconds from 0 to {}, got {}",
                                         kMaxStopGrace.count(), to_text(*grace)));
    }
    action.grace = std::chrono::milliseconds(grace->get<uint64_t>());
  }
  return action;
}

Decoded<VmState> decode_vm_state(std::string_view body) {
  const json object = TRY(parse_object(body));
  TRY(only_known_fields(object, {"state"}));
  const std::string state = TRY(required_string(object, "state"));
  if (state == "Paused") return VmState::kPaused;
  if (state == "Resumed") return VmState::kResumed;
  return std::unexpected(
      fmt::format("state: {} is not one of Paused, Resumed", to_text(json(state))));
}

Response handle_request(const Request& request, GuestControl& guest) {
  // The query string selects nothing here.
  const std::string_view path =
      std::string_view(request.target)
          .substr(0, std::min(request.target.size(), request.target.find('?')));
  try {
    if (request.method == "GET" && path == "/") return get_info(guest);
    if (request.method == "GET" && path == "/machine-config") return get_machine_config(guest);
    if (request.method == "GET" && path == "/vm/config") {
      return json_response(200, vm_config(guest.config()));
    }
    if (request.method == "PUT" && path == "/actions") return put_actions(request, guest);
    if (request.method == "PATCH" && path == "/vm") return patch_vm(request, guest);
    return fault(400, fmt::format("Invalid request method and/or path: {} {}", request.method,
                                  request.target));
  } catch (const std::exception& error) {
    // Nothing above should throw; a bug must still not take the guest down with it.
    return fault(500, fmt::format("internal error: {}", error.what()));
  }
}

}  // namespace petrel::api

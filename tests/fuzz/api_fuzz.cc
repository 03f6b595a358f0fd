// libFuzzer target for the control socket's requests (vmm/api.cc): whatever a client sends
// as method, path and body, routed and decoded as the server does after HTTP parsing
// (Beast's, which is not ours to fuzz). Findings besides crashes and sanitizer reports: a
// 500 (something threw), an answer that is not the JSON its status promises, and a state
// change by a request that was refused. See tests/fuzz/README.md.

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.h"
#include "vmm/api.h"

namespace {

using namespace petrel;
using namespace petrel::api;
using fuzz::Input;

// A guest that records what the requests asked of it.
class RecordingGuest final : public GuestControl {
 public:
  std::string id() const override { return "fuzz"; }
  PublicState state() const override { return state_; }
  const Config& config() const override { return config_; }
  Result<> pause() override {
    ++changes;
    if (state_ == PublicState::kNotStarted) return fail(ExitCode::kNotCreated, "not started");
    state_ = PublicState::kPaused;
    return {};
  }
  Result<> resume() override {
    ++changes;
    if (state_ == PublicState::kNotStarted) return fail(ExitCode::kNotCreated, "not started");
    state_ = PublicState::kRunning;
    return {};
  }
  bool press_power_button() override {
    ++changes;
    return has_button;
  }
  void stop(std::optional<std::chrono::milliseconds>) override { ++changes; }

  Config config_;
  PublicState state_ = PublicState::kRunning;
  bool has_button = false;
  int changes = 0;
};

constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kRoutes = {{
    {"GET", "/"},
    {"GET", "/machine-config"},
    {"PUT", "/actions"},
    {"PATCH", "/vm"},
    {"PATCH", "/vm?x=1"},
    {"GET", "/vm/config"},
    {"GET", "/actions"},
    {"DELETE", "/"},
}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto selector = in.take<uint8_t>();
  RecordingGuest guest;
  guest.state_ = static_cast<PublicState>(selector % 3);
  guest.has_button = (selector & 0x80) != 0;
  const auto& [method, target] = kRoutes[(selector >> 2) % kRoutes.size()];
  const std::span<const uint8_t> rest = in.rest();
  const std::string body(reinterpret_cast<const char*>(rest.data()), rest.size());

  const Response response = handle_request({std::string(method), std::string(target), body}, guest);
  PETREL_FUZZ_CHECK(response.status == 200 || response.status == 204 || response.status == 400);
  if (response.status == 204) {
    PETREL_FUZZ_CHECK(response.body.empty());
  } else {
    const nlohmann::json answer = nlohmann::json::parse(response.body, nullptr, false);
    PETREL_FUZZ_CHECK(answer.is_object());
    if (response.status == 400) {
      PETREL_FUZZ_CHECK(answer.size() == 1 && answer.contains("fault_message"));
    }
  }
  // A body that does not decode reaches the guest with nothing.
  const bool decodes = decode_action(body).has_value() || decode_vm_state(body).has_value();
  if (!decodes) PETREL_FUZZ_CHECK(guest.changes == 0);
  return 0;
}

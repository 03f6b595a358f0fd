#include "cmd/commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arch/machine.h"
#include "cmd/supervisor.h"
#include "cmd/terminal.h"
#include "core/config.h"
#include "core/console_sink.h"
#include "core/instance_lock.h"
#include "core/lifecycle.h"
#include "core/sd_notify.h"
#include "vmm/api_server.h"

namespace petrel {

namespace {

ExitCode report(const Error& error) {
  spdlog::error("{}", error.message);
  return error.code;
}

// A status the guest chose through the test-exit device is the exit code as it is; it can
// only come when [test_exit] is enabled, so without it the lifecycle codes stand alone.
int exit_code_for(GuestExit how) {
  switch (how.kind) {
    case GuestExit::Kind::kPowerOff: return static_cast<int>(ExitCode::kPoweredOff);
    case GuestExit::Kind::kReset: return static_cast<int>(ExitCode::kGuestReset);
    case GuestExit::Kind::kTestExit: return how.status;
  }
  return static_cast<int>(ExitCode::kInternalError);
}

// The last lines the guest printed, on stderr: they say why it panicked or where it hung,
// also when its console went only to a log or nowhere.
void report_console_lines(const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  spdlog::error("last {} console line(s):", lines.size());
  for (const std::string& line : lines) spdlog::error("  | {}", line);
}

// The panic line from its reason on, without the kernel's timestamp.
std::string panic_reason(const std::string& line) {
  const size_t at = line.find("Kernel panic");
  return at == std::string::npos ? line : line.substr(at);
}

// What the control socket may ask of the guest `run` runs.
class RunningGuest final : public api::GuestControl {
 public:
  RunningGuest(const Config& config, Lifecycle& lifecycle, Supervisor& supervisor)
      : config_(config), lifecycle_(lifecycle), supervisor_(supervisor) {}
  std::string id() const override { return config_.name; }
  PublicState state() const override { return lifecycle_.state(); }
  const Config& config() const override { return config_; }
  Result<> pause() override { return lifecycle_.pause(); }
  Result<> resume() override { return lifecycle_.resume(); }
  bool press_power_button() override { return supervisor_.press_power_button(); }
  void stop(std::optional<std::chrono::milliseconds> grace) override {
    supervisor_.request_stop(grace);
  }

 private:
  const Config& config_;
  Lifecycle& lifecycle_;
  Supervisor& supervisor_;
};

// The control socket's path: [api] socket (or --api-sock), else NAME.sock next to the
// instance lock. None when it is turned off.
Result<std::optional<std::filesystem::path>> api_socket_path(const Config& config,
                                                             const RunOptions& options) {
  if (!config.api.enabled) return std::nullopt;
  if (config.api.socket) return *config.api.socket;  // its length was checked with the config
  const std::filesystem::path path =
      options.runtime_dir.value_or(default_runtime_dir()) / (config.name + ".sock");
  if (path.string().size() > api::max_socket_path_bytes()) {
    const std::string origin = options.runtime_dir
                                   ? fmt::format("--runtime-dir {}", options.runtime_dir->string())
                                   : std::string("the runtime folder");
    return fail(
        ExitCode::kBadConfig,
        fmt::format("{}: the control socket {} would be {} bytes long; a Unix socket "
                    "path holds at most {} (set api.socket or --api-sock)",
                    origin, path.string(), path.string().size(), api::max_socket_path_bytes()));
  }
  return path;
}

}  // namespace

ExitCode run_command(const RunOptions& options) {
  auto config = options.guest.load();
  if (!config) return report(config.error());
  auto socket_path = api_socket_path(*config, options);
  if (!socket_path) return report(socket_path.error());

  auto lock =
      InstanceLock::acquire(options.runtime_dir.value_or(default_runtime_dir()), config->name);
  if (!lock) return report(lock.error());
  // After the lock: a second run of a running guest must not truncate its console log.
  auto console = ConsoleSink::open(config->console);
  if (!console) return report(console.error());

  Lifecycle lifecycle(
      [&console](const Config& guest) { return arch::create_machine(guest, *console); });
  auto started = Supervisor::start(
      [&lifecycle] {
        notify_systemd("STOPPING=1");
        (void)lifecycle.stop();
      },
      options.timeout, Supervisor::Grace{config->machine.stop_grace, [&lifecycle](bool pressed) {
                                           return lifecycle.set_power_button(pressed);
                                         }});
  if (!started) return report(started.error());
  Supervisor& supervisor = **started;
  // Served from before Create until the run ends; destroyed (its thread joined, its socket
  // file removed) before the lifecycle and supervisor it uses. A socket left by a killed
  // run of this name is removed first: the instance lock says no live run of it serves there.
  RunningGuest guest(*config, lifecycle, supervisor);
  std::unique_ptr<api::Server> api_server;
  if (*socket_path) {
    if (auto removed = api::remove_stale_socket(**socket_path); !removed) {
      return report(removed.error());
    }
    auto served = api::Server::start(**socket_path, guest);
    if (!served) return report(served.error());
    api_server = std::move(*served);
    spdlog::info("control socket: {}", (*socket_path)->string());
  }
  std::optional<RawTerminal> terminal;
  if (config->console.mode == ConsoleMode::kStdio) terminal.emplace();

  for (unsigned boot = 1;; ++boot) {
    if (supervisor.stop_signalled() || supervisor.timed_out()) break;
    // A stop (signal or timeout) can land between Create and Run of a restart; Run then
    // finds the VM shut down, which is the stop's doing, not an error of its own.
    auto stopped = [&]() -> std::optional<ExitCode> {
      if (supervisor.timed_out()) {
        spdlog::error("the guest did not stop within the timeout");
        if (config->console.mode == ConsoleMode::kNone) report_console_lines(console->last_lines());
        return ExitCode::kTimeout;
      }
      if (supervisor.stop_signalled()) {
        spdlog::info("the VM was stopped");
        return ExitCode::kControllerForcedHalt;
      }
      return std::nullopt;
    };
    if (auto created = lifecycle.create(*config); !created) {
      if (auto code = stopped()) return *code;
      return report(created.error());
    }
    spdlog::info("guest '{}' created (boot {})", config->name, boot);
    // A stop that came while Create ran may have found no VM to stop yet.
    if (auto code = stopped()) return *code;
    auto ran = lifecycle.run([] { notify_systemd("READY=1"); });
    if (supervisor.timed_out()) return *stopped();
    if (!ran && supervisor.stop_signalled()) return *stopped();
    if (!ran) {
      if (ran.error().code == ExitCode::kControllerForcedHalt) {
        spdlog::info("{}", ran.error().message);
        return ran.error().code;
      }
      return report(ran.error());
    }
    const std::optional<std::string> panic =
        *ran == GuestExit::kReset ? console->panic() : std::nullopt;
    if (*ran == GuestExit::kReset && config->on_reset == OnReset::kRestart) {
      if (panic) spdlog::warn("the guest kernel panicked: {}", panic_reason(*panic));
      spdlog::info("guest reset: booting it again (on_reset = \"restart\")");
      console->new_boot();
      continue;
    }
    if (panic) {
      // With panic=-1 the kernel resets at once; the lifecycle code stays the reset's (32).
      spdlog::error("the guest kernel panicked: {}", panic_reason(*panic));
      report_console_lines(console->panic_context());
    } else if (*ran == GuestExit::kReset && !console->printed()) {
      // Typically a panic before the console driver is up (too little RAM for the kernel's
      // reservations, a wrong root= with panic=-1): nothing to report but how to see it.
      spdlog::warn(
          "the guest reset before its console printed anything; add earlycon to the kernel "
          "command line to see its early messages");
    }
    spdlog::info("guest {}", describe(*ran));
    return static_cast<ExitCode>(exit_code_for(*ran));
  }
  return supervisor.timed_out() ? ExitCode::kTimeout : ExitCode::kControllerForcedHalt;
}

ExitCode check_command(const GuestFlags& guest) {
  auto config = guest.load();
  if (!config) return report(config.error());
  // The boot payloads too, so `check` catches a kernel that is not an arm64 Image, a
  // truncated or corrupt Image.gz (decompressed whole here), or a RAM size too small for it.
  if (auto boot = arch::check_boot(*config); !boot) return report(boot.error());
  fmt::print("{}: ok\n", guest.source_name());
  return ExitCode::kPoweredOff;
}

ExitCode dtb_command(const GuestFlags& guest, const std::filesystem::path& output) {
  auto config = guest.load();
  if (!config) return report(config.error());
  auto tree = arch::describe_machine(*config);
  if (!tree) return report(tree.error());

  // Written to a temporary name and renamed, so a failure never leaves half a file.
  const std::filesystem::path temporary = output.string() + ".tmp";
  FILE* file = std::fopen(temporary.c_str(), "wb");
  const bool written =
      file != nullptr && std::fwrite(tree->data(), 1, tree->size(), file) == tree->size();
  const bool closed = file != nullptr && std::fclose(file) == 0;
  if (!written || !closed || std::rename(temporary.c_str(), output.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    return report({ExitCode::kBadConfig, fmt::format("{}: {}", output.string(), strerror(error))});
  }
  return ExitCode::kPoweredOff;
}

}  // namespace petrel

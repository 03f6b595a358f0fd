// petrel: boots an arm64 Linux guest on KVM from a TOML file, in the foreground, and
// reports by its exit code how the guest ended.
#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cmd/commands.h"
#include "cmd/control.h"
#include "cmd/supervisor.h"
#include "core/log.h"
#include "core/version.h"

namespace {

constexpr const char* kExitCodes = R"(Exit codes:
    0  the guest powered off (PSCI SYSTEM_OFF)
    1  INTERNAL_ERROR: anything unexpected
    3  BAD_CONFIG: TOML syntax, unknown key, wrong type, out of range, bad flag
    4  GUEST_INITIALIZATION_FAILURE: no usable /dev/kvm, host not arm64, RAM not allocatable
    5  DEVICE_INITIALIZATION_FAILURE: a device resource cannot be set up
    7  DEVICE_MEMORY_OVERLAP: devices or RAM overlap in the guest address map
   10  KERNEL_LOAD_FAILURE: kernel or initrd missing, unreadable, not an arm64 Image, too big
   11  VCPU_START_FAILURE: a vCPU cannot be created or started (e.g. too many vCPUs)
   12  VCPU_RUNTIME_FAILURE: a vCPU failed while running the guest
   13  NOT_CREATED; status/pause/resume/stop: no such guest, or it is not running
   14  ALREADY_RUNNING: a guest of the same name is running
   15  CONTROLLER_FORCED_HALT: stopped by SIGTERM, SIGINT, SIGHUP or `petrel stop`
   32  the guest reset (PSCI SYSTEM_RESET, e.g. reboot, or a panic with panic=-1)
  124  --timeout elapsed; the VM was stopped first
Codes 2, 6, 8 and 9 are reserved (fuchsia.virtualization.GuestError).)";

}  // namespace

int main(int argc, char** argv) {
  petrel::elapsed_since_start_ms();  // starts the start-up clock
  // Before any thread exists, so every thread inherits the mask and only the
  // supervisor thread ever sees these signals.
  petrel::Supervisor::block_stop_signals();
  // One malloc arena for all threads. Otherwise a thread's first free() (at the latest
  // when the thread ends) makes glibc set up an arena of its own: an mmap of 128 MiB, two
  // munmaps to align it to 64 MiB and an mprotect, then more munmaps as it is trimmed,
  // several milliseconds per thread on an emulated host, for threads that allocate next to
  // nothing. The per-thread cache (tcache) still serves small blocks without the lock.
  mallopt(M_ARENA_MAX, 1);
  // petrel's threads need little stack. Keeping stacks well under 2 MiB also keeps
  // transparent huge pages, which guest RAM wants, from giving each thread a 2 MiB page.
  pthread_attr_t thread_defaults;
  pthread_attr_init(&thread_defaults);
  pthread_attr_setstacksize(&thread_defaults, 512 * 1024);
  pthread_setattr_default_np(&thread_defaults);
  pthread_attr_destroy(&thread_defaults);

  // Words after the first `--` are kernel arguments, as in `petrel run --kernel Image --
  // console=ttyS0 quiet`; CLI11 would take them as positionals.
  std::vector<std::string> kernel_args;
  int parsed_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      kernel_args.assign(argv + i + 1, argv + argc);
      parsed_argc = i;
      break;
    }
  }
  // Setting up a subcommand's guest flags is most of CLI11's start-up work (each option
  // builds its names, callbacks and help text), and a command line runs one subcommand:
  // only a subcommand named on it gets its options. CLI11 enters a subcommand only by its
  // name, so the others, registered with their description alone (all that `petrel --help`
  // shows of them), are never parsed. Without any name all get their options, for help and
  // error messages.
  auto named = [&](std::string_view name) {
    for (int i = 1; i < parsed_argc; ++i) {
      if (name == argv[i]) return true;
    }
    return false;
  };
  bool none_named = true;
  for (std::string_view name :
       {"run", "check", "dtb", "status", "pause", "resume", "stop", "list"}) {
    if (named(name)) none_named = false;
  }
  auto wanted = [&](std::string_view name) { return none_named || named(name); };

  CLI::App app{"petrel: a microVM launcher for arm64 Linux guests on KVM", "petrel"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.set_version_flag("--version", "petrel " + std::string(petrel::kVersion));
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "more logging on stderr (-v info, -vv debug)");

  petrel::RunOptions run;
  std::string timeout_text;
  std::string runtime_dir;
  auto* run_cmd = app.add_subcommand(
      "run", "create and run the guest described by CONFIG and the flags, in the foreground");
  if (wanted("run")) {
    run_cmd->footer(
        "Without CONFIG, the flags alone describe the guest (quick mode). Words after -- are "
        "added to the kernel command line: petrel run --kernel Image -- console=ttyS0 quiet");
    run.guest.add_to(*run_cmd);
    run.guest.set_kernel_args(kernel_args);
    run_cmd->add_option("--timeout", timeout_text,
                        "stop the guest and exit 124 after DURATION (e.g. 90, 90s, 500ms, 2m)");
    run_cmd->add_option("--runtime-dir", runtime_dir,
                        "folder for the per-name lock and control socket NAME.sock (default "
                        "$XDG_RUNTIME_DIR/petrel, /run/petrel as root)");
  }

  petrel::GuestFlags check_guest;
  auto* check_cmd =
      app.add_subcommand("check", "validate the guest and its kernel without booting");
  if (wanted("check")) {
    check_guest.add_to(*check_cmd);
    check_guest.set_kernel_args(kernel_args);
  }

  petrel::GuestFlags dtb_guest;
  std::filesystem::path dtb_output;
  auto* dtb_cmd = app.add_subcommand("dtb", "write the device tree `run` would give the guest");
  if (wanted("dtb")) {
    dtb_guest.add_to(*dtb_cmd);
    dtb_guest.set_kernel_args(kernel_args);
    dtb_cmd->add_option("-o,--output", dtb_output, "where to write the .dtb")->required();
  }

  // Bind: commands that ask a running guest's control socket.
  petrel::ControlOptions control;
  std::string control_runtime_dir, grace_text;
  std::string control_socket;
  auto control_command = [&](const char* name, const char* what) {
    auto* command = app.add_subcommand(name, what);
    if (!wanted(name)) return command;
    if (std::string_view(name) != "list") {
      command->add_option("NAME", control.name, "the guest's name (its run's name)");
      command->add_option("--api-sock", control_socket,
                          "the guest's control socket, in place of NAME");
    }
    command->add_option("--runtime-dir", control_runtime_dir,
                        "where the runs' sockets are (as given to `petrel run`)");
    return command;
  };
  auto* status_cmd =
      control_command("status", "show a running guest's state, vCPUs, memory, pid and uptime");
  auto* pause_cmd = control_command("pause", "pause a running guest (every vCPU and device)");
  auto* resume_cmd = control_command("resume", "resume a paused guest");
  auto* stop_cmd =
      control_command("stop", "stop a running guest: its `petrel run` exits as for SIGTERM (15)");
  auto* list_cmd = control_command("list", "list this user's running guests");
  if (wanted("status")) status_cmd->add_flag("--json", control.json, "print JSON");
  if (wanted("list")) list_cmd->add_flag("--json", control.json, "print JSON");
  if (wanted("stop")) {
    stop_cmd->add_option("--grace", grace_text,
                         "press the power button first and give the guest DURATION to power off");
  }

  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : petrel::to_int(petrel::ExitCode::kBadConfig);
  }
  petrel::init_logging(verbosity);

  if (*run_cmd) {
    if (!timeout_text.empty()) {
      run.timeout = petrel::parse_duration(timeout_text);
      if (!run.timeout) {
        spdlog::error("--timeout: '{}' is not a duration (e.g. 90, 90s, 500ms, 2m)", timeout_text);
        return petrel::to_int(petrel::ExitCode::kBadConfig);
      }
    }
    if (!runtime_dir.empty()) run.runtime_dir = runtime_dir;
    return petrel::to_int(petrel::run_command(run));
  }
  if (*check_cmd) return petrel::to_int(petrel::check_command(check_guest));
  if (*status_cmd || *pause_cmd || *resume_cmd || *stop_cmd || *list_cmd) {
    if (!control_socket.empty()) control.api_sock = control_socket;
    if (!control_runtime_dir.empty()) control.runtime_dir = control_runtime_dir;
    if (!grace_text.empty()) {
      control.grace = petrel::parse_duration(grace_text);
      if (!control.grace) {
        spdlog::error("--grace: '{}' is not a duration (e.g. 10, 10s, 500ms)", grace_text);
        return petrel::to_int(petrel::ExitCode::kBadConfig);
      }
    }
    if (*status_cmd) return petrel::to_int(petrel::status_command(control));
    if (*pause_cmd) return petrel::to_int(petrel::pause_command(control));
    if (*resume_cmd) return petrel::to_int(petrel::resume_command(control));
    if (*stop_cmd) return petrel::to_int(petrel::stop_command(control));
    return petrel::to_int(petrel::list_command(control));
  }
  return petrel::to_int(petrel::dtb_command(dtb_guest, dtb_output));
}

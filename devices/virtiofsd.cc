#include "devices/virtiofsd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "devices/virtio_device.h"

namespace petrel::virtio {

namespace {

// FUSE's option parser splits -o values at commas: a folder name with one is escaped.
std::string escape_option(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// What the child reports through its pipe when it cannot become virtiofsd.
struct ChildFailure {
  int step;  // kStep*
  int error;
};
constexpr int kStepReadOnlyView = 1;
constexpr int kStepExec = 2;

// A listening socket already connected to: virtiofsd accepts the connection that waits in
// its backlog. The socket's file exists only between bind() and connect().
Result<> make_connected_pair(UniqueFd& listening, UniqueFd& connection) {
  std::string dir = (std::filesystem::temp_directory_path() / "petrel-virtiofs-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    return device_init_failure(fmt::format("virtiofsd socket folder {}: {}", dir, strerror(errno)));
  }
  const std::string path = dir + "/socket";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    rmdir(dir.c_str());
    return device_init_failure(
        fmt::format("{}: socket path too long (set TMPDIR to a shorter folder)", path));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const auto* raw = reinterpret_cast<const sockaddr*>(&address);
  listening = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  connection = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  bool ok = listening && connection && bind(listening.get(), raw, sizeof(address)) == 0 &&
            listen(listening.get(), 1) == 0 && connect(connection.get(), raw, sizeof(address)) == 0;
  const int error = errno;
  unlink(path.c_str());
  rmdir(dir.c_str());
  if (!ok)
    return device_init_failure(fmt::format("virtiofsd socket {}: {}", path, strerror(error)));
  return {};
}

// In the forked child, before exec: only async-signal-safe calls from here on.
[[noreturn]] void become_virtiofsd(const VirtiofsdProcess::Options& options, pid_t parent,
                                   int listening, int null_fd, int report_fd, char* const* argv) {
  auto report = [report_fd](int step) {
    const ChildFailure failure{step, errno};
    [[maybe_unused]] ssize_t ignored = write(report_fd, &failure, sizeof(failure));
    _exit(127);
  };
  // petrel blocks its stop signals and ignores SIGPIPE; exec would hand both on.
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &default_action, nullptr);
  // Dies with petrel's main thread, even when petrel is killed and runs no destructor.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);  // petrel died before the line above
  if (options.read_only) {
    // virtiofsd 7.2 has no read-only option: it runs in a mount namespace of its own in
    // which the folder is a read-only bind mount, so every write the guest asks for fails
    // with EROFS in the host kernel. Not recursive: mounts below the folder stay out of
    // the view rather than writable inside it.
    const char* folder = options.folder.c_str();
    if (unshare(CLONE_NEWNS) != 0) report(kStepReadOnlyView);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) report(kStepReadOnlyView);
    if (mount(folder, folder, nullptr, MS_BIND, nullptr) != 0) report(kStepReadOnlyView);
    if (mount(nullptr, folder, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      report(kStepReadOnlyView);
    }
  }
  // stdin is the guest's console input; stdout the guest's console output. virtiofsd's
  // own messages go to stderr with petrel's.
  dup2(null_fd, STDIN_FILENO);
  dup2(STDERR_FILENO, STDOUT_FILENO);
  fcntl(listening, F_SETFD, 0);  // the one descriptor virtiofsd inherits
  execv(argv[0], argv);
  report(kStepExec);
  _exit(127);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("status {:#x}", status);
}

}  // namespace

std::vector<std::string> VirtiofsdProcess::arguments(const Options& options, int socket_fd) {
  return {
      options.program.string(),
      fmt::format("--fd={}", socket_fd),
      "-o",
      "source=" + escape_option(options.folder.string()),
      // The guest's page cache is kept while files do not change under it (the default).
      "-o",
      "cache=auto",
      // Its info and warning lines (connections, "TODO" notes on ring changes) would fill
      // petrel's stderr; errors still show.
      "-o",
      "log_level=err",
  };
}

Result<VirtiofsdProcess> VirtiofsdProcess::start(const Options& options, UniqueFd& connection) {
  if (access(options.program.c_str(), X_OK) != 0) {
    return device_init_failure(fmt::format("{}: {}: {} (virtiofsd comes with Debian's {} package)",
                                           options.log_name, options.program.string(),
                                           strerror(errno), kVirtiofsdPackage));
  }
  UniqueFd listening;
  TRY(make_connected_pair(listening, connection));
  UniqueFd null_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  int pipe_fds[2];
  if (!null_fd || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return device_init_failure(fmt::format("{}: {}", options.log_name, strerror(errno)));
  }
  UniqueFd report_read(pipe_fds[0]);
  UniqueFd report_write(pipe_fds[1]);

  // Everything the child needs is made before fork(): it may only make async-signal-safe
  // calls, petrel having threads.
  const std::vector<std::string> args = arguments(options, listening.get());
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0)
    return device_init_failure(fmt::format("{}: fork: {}", options.log_name, strerror(errno)));
  if (pid == 0) {
    become_virtiofsd(options, parent, listening.get(), null_fd.get(), report_write.get(),
                     argv.data());
  }
  report_write.reset();
  VirtiofsdProcess process(pid);
  ChildFailure failure{};
  ssize_t got;
  do {
    got = read(report_read.get(), &failure, sizeof(failure));
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof(failure))) return process;  // exec'd: the pipe closed
  process.stop(std::chrono::milliseconds(0));
  if (failure.step == kStepReadOnlyView) {
    return device_init_failure(fmt::format(
        "{}: read_only: cannot make a read-only view of {} for virtiofsd (needs CAP_SYS_ADMIN): {}",
        options.log_name, options.folder.string(), strerror(failure.error)));
  }
  return device_init_failure(fmt::format("{}: cannot run {}: {}", options.log_name,
                                         options.program.string(), strerror(failure.error)));
}

VirtiofsdProcess::VirtiofsdProcess(VirtiofsdProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)) {}

VirtiofsdProcess::~VirtiofsdProcess() { stop(std::chrono::seconds(2)); }

std::optional<std::string> VirtiofsdProcess::ended(std::chrono::milliseconds wait) {
  if (pid_ < 0) return "not running";
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return describe_status(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void VirtiofsdProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return;
  }
  // SIGTERM lets its sandboxed child end with it; SIGKILL if it does not go in time.
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace petrel::virtio

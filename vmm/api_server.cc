// The only translation unit that includes Boost.Asio and Boost.Beast: their compile time
// stays here.
#include "vmm/api_server.h"

// Before Asio: Boost 1.74's asio/impl/awaitable.hpp uses std::exchange without including
// <utility>, which C++23's standard headers no longer pull in on their own.
#include <utility>
// clang-format off
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <thread>

#include "core/unique_fd.h"

namespace petrel::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

std::unexpected<Error> init_failure(const std::filesystem::path& path, std::string_view what) {
  return fail(ExitCode::kGuestInitializationFailure,
              fmt::format("control socket {}: {}", path.string(), what));
}

// Asio opens its sockets without O_CLOEXEC; a child petrel starts (virtiofsd) must not
// inherit a client's connection or the listening socket.
void keep_from_children(int fd) { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }

class SocketServer;

// One client connection: requests are read and answered one after the other (HTTP/1.1
// keep-alive) until the client closes, a request is malformed, or the client is idle or
// slow for longer than the limit. Lives as long as an operation of it is pending.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Local::socket socket, SocketServer& server);
  ~Session();

  void read_request();

 private:
  void on_read(beast::error_code error);
  void reply(const Response& response, bool keep_alive);
  void close();

  beast::basic_stream<Local> stream_;
  SocketServer& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

class SocketServer final : public Server {
 public:
  SocketServer(std::filesystem::path path, GuestControl& guest, ServerLimits limits)
      : path_(std::move(path)), guest_(guest), limits_(limits), acceptor_(io_), retry_(io_) {}

  ~SocketServer() override {
    // The thread first: no handler runs any more once it is joined. Pending operations (the
    // sessions they hold) are destroyed with io_, which closes their sockets.
    io_.stop();
    if (thread_.joinable()) thread_.join();
    beast::error_code ignored;
    acceptor_.close(ignored);
    if (bound_) ::unlink(path_.c_str());
  }

  Result<> listen() {
    beast::error_code error;
    acceptor_.open(Local(), error);
    if (error) return init_failure(path_, error.message());
    keep_from_children(acceptor_.native_handle());
    acceptor_.bind(Local::endpoint(path_.string()), error);
    if (error) return init_failure(path_, error.message());
    bound_ = true;
    // The folder is the user's own (0700) for the default path; the socket is too.
    if (::chmod(path_.c_str(), 0600) != 0) return init_failure(path_, strerror(errno));
    acceptor_.listen(static_cast<int>(limits_.max_connections), error);
    if (error) return init_failure(path_, error.message());
    accept();
    try {
      thread_ = std::thread([this] { serve(); });
    } catch (const std::system_error& failure) {
      return init_failure(path_, failure.what());
    }
    return {};
  }

  const std::filesystem::path& path() const override { return path_; }

  GuestControl& guest() { return guest_; }
  const ServerLimits& limits() const { return limits_; }
  size_t sessions = 0;  // only touched on the server's thread

 private:
  void serve() {
    pthread_setname_np(pthread_self(), "petrel-api");
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& error) {
        // A handler failed (out of memory): that connection is lost, the server goes on.
        spdlog::warn("control socket: {}", error.what());
      }
    }
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code error, Local::socket socket) {
      if (error == net::error::operation_aborted) return;
      if (error) {
        // Out of descriptors, typically: try again a little later rather than spin.
        spdlog::warn("control socket: accept: {}", error.message());
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this](beast::error_code waited) {
          if (!waited) accept();
        });
        return;
      }
      if (sessions >= limits_.max_connections) {
        spdlog::debug("control socket: {} connections already; closing a new one", sessions);
        socket.close(error);
      } else {
        keep_from_children(socket.native_handle());
        std::make_shared<Session>(std::move(socket), *this)->read_request();
      }
      accept();
    });
  }

  // Declared before io_, so they outlive the sessions it destroys.
  std::filesystem::path path_;
  GuestControl& guest_;
  ServerLimits limits_;
  net::io_context io_{1};
  Local::acceptor acceptor_;
  net::steady_timer retry_;
  bool bound_ = false;
  std::thread thread_;
};

Session::Session(Local::socket socket, SocketServer& server)
    : stream_(std::move(socket)), server_(server) {
  ++server_.sessions;
}

Session::~Session() { --server_.sessions; }

void Session::read_request() {
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(server_.limits().max_header_bytes));
  parser_->body_limit(server_.limits().max_body_bytes);
  // One deadline for the whole request: a client that trickles bytes is cut off too.
  stream_.expires_after(server_.limits().request_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code error, size_t) { self->on_read(error); });
}

void Session::on_read(beast::error_code error) {
  if (error == http::error::end_of_stream || error == beast::error::timeout ||
      error == net::error::operation_aborted || error == net::error::connection_reset ||
      error == net::error::eof) {
    return close();
  }
  if (error == http::error::body_limit) {
    return reply(fault(413, fmt::format("the request body is larger than {} bytes",
                                        server_.limits().max_body_bytes)),
                 false);
  }
  if (error == http::error::header_limit) {
    return reply(fault(400, fmt::format("the request line and headers are larger than {} bytes",
                                        server_.limits().max_header_bytes)),
                 false);
  }
  if (error) {
    // The request's framing is unknown from here on: answer and close.
    return reply(fault(400, fmt::format("malformed HTTP request: {}", error.message())), false);
  }
  http::request<http::string_body>& message = parser_->get();
  const Request request{std::string(message.method_string()), std::string(message.target()),
                        std::move(message.body())};
  reply(handle_request(request, server_.guest()), message.keep_alive());
}

void Session::reply(const Response& response, bool keep_alive) {
  response_ = {};
  response_.version(11);
  response_.result(response.status);
  response_.set(http::field::server, "petrel");
  if (!response.body.empty()) response_.set(http::field::content_type, "application/json");
  response_.body() = response.body;
  response_.keep_alive(keep_alive);
  response_.prepare_payload();
  stream_.expires_after(server_.limits().request_timeout);
  http::async_write(stream_, response_,
                    [self = shared_from_this(), keep_alive](beast::error_code error, size_t) {
                      if (error || !keep_alive) return self->close();
                      self->read_request();
                    });
}

void Session::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(Local::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace

size_t max_socket_path_bytes() { return sizeof(sockaddr_un::sun_path) - 1; }

Result<std::unique_ptr<Server>> Server::start(const std::filesystem::path& path,
                                              GuestControl& guest, ServerLimits limits) {
  if (path.string().size() > max_socket_path_bytes()) {
    return init_failure(path, fmt::format("longer than the {} bytes a socket address holds",
                                          max_socket_path_bytes()));
  }
  auto server = std::make_unique<SocketServer>(path, guest, limits);
  TRY(server->listen());
  return server;
}

Result<> remove_stale_socket(const std::filesystem::path& path) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    if (errno == ENOENT) return {};
    return init_failure(path, strerror(errno));
  }
  if (!S_ISSOCK(status.st_mode)) return init_failure(path, "exists and is not a socket");
  // A socket someone still serves is not stale (another guest given the same --api-sock).
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() > max_socket_path_bytes()) return init_failure(path, "path too long");
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe &&
      ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return init_failure(path, "in use by another process");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return init_failure(path, strerror(errno));
  spdlog::debug("control socket: removed a stale {}", text);
  return {};
}

}  // namespace petrel::api

// With api_server.cc, the only translation units that include Boost.Asio and Beast.
#include "vmm/api_client.h"

// Before Asio: Boost 1.74's asio/impl/awaitable.hpp uses std::exchange without including
// <utility> (see api_server.cc).
#include <utility>
// clang-format off
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>

namespace petrel::api {

namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

// The answers here are small JSON bodies; anything larger is not a petrel's.
constexpr size_t kMaxReplyBytes = 1 << 20;
}  // namespace

Result<Reply> call(const std::filesystem::path& path, std::string_view method,
                   std::string_view target, std::string_view body,
                   std::chrono::milliseconds timeout) {
  net::io_context io;
  beast::basic_stream<Local, net::any_io_executor, beast::unlimited_rate_policy> stream(io);
  beast::error_code error;
  stream.expires_after(timeout);
  stream.socket().connect(Local::endpoint(path.string()), error);
  if (error) {
    const bool absent = error == net::error::connection_refused ||
                        error == net::error::no_such_device || error.value() == ENOENT ||
                        error.value() == ENOTSOCK;
    return fail(absent ? ExitCode::kNotCreated : ExitCode::kInternalError,
                fmt::format("control socket {}: {}{}", path.string(), error.message(),
                            absent ? " (no guest serves there)" : ""));
  }
  Reply reply;
  ucred peer{};
  socklen_t peer_size = sizeof(peer);
  if (getsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) ==
      0) {
    reply.server_pid = peer.pid;
  }

  http::request<http::string_body> request(
      http::string_to_verb(beast::string_view(method.data(), method.size())),
      beast::string_view(target.data(), target.size()), 11);
  request.set(http::field::host, "localhost");
  request.set(http::field::connection, "close");
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.prepare_payload();
  http::write(stream, request, error);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  if (!error) http::read(stream, buffer, parser, error);
  if (error) {
    return fail(
        ExitCode::kInternalError,
        fmt::format("control socket {}: {} {}: {}", path.string(), method, target,
                    error == beast::error::timeout ? "no answer in time" : error.message()));
  }
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace petrel::api

// The console sink: every byte to stdout and the log as it comes, the tail of lines kept,
// a kernel panic recognised per boot.
#include "core/console_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "tests/unit/scratch_dir.h"

using namespace petrel;
using petrel::testing::ScratchDir;

namespace {

void print(ConsoleSink& sink, std::string_view text) {
  sink.write({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("console sink: the log has every byte at once, with no close or flush") {
  ScratchDir scratch;
  Config::Console console;
  console.mode = ConsoleMode::kNone;
  console.log = scratch / "console.log";
  scratch.write("console.log", "old contents, truncated on open");
  auto sink = ConsoleSink::open(console);
  REQUIRE(sink.has_value());
  print(*sink, "Booting Linux\r\nhalf a li");
  // Read while the sink is open: nothing is held back in a buffer of petrel's.
  CHECK(slurp(scratch / "console.log") == "Booting Linux\r\nhalf a li");
}

TEST_CASE("console sink: an unwritable log is a device error naming the key and file") {
  ScratchDir scratch;
  Config::Console console;
  console.log = scratch / "no-such-folder" / "console.log";
  auto sink = ConsoleSink::open(console);
  REQUIRE_FALSE(sink.has_value());
  CHECK(sink.error().code == ExitCode::kDeviceInitializationFailure);
  CHECK(sink.error().message ==
        "console.log: " + console.log->string() + ": No such file or directory");
}

TEST_CASE("console sink: stdout gets the bytes unless the console is none") {
  int fds[2];
  REQUIRE(pipe2(fds, O_NONBLOCK) == 0);
  {
    ConsoleSink sink(fds[1], UniqueFd());
    print(sink, "to stdout\n");
  }
  char buffer[64] = {};
  CHECK(read(fds[0], buffer, sizeof(buffer)) == 10);
  CHECK(std::string_view(buffer) == "to stdout\n");
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("console sink: the last lines are kept, carriage returns dropped, long lines cut") {
  ConsoleSink sink(-1, UniqueFd());
  for (int i = 0; i < 30; ++i) print(sink, "line " + std::to_string(i) + "\r\n");
  print(sink, std::string(2000, 'x'));
  const auto lines = sink.last_lines();
  REQUIRE(lines.size() == ConsoleSink::kTailLines);
  CHECK(lines.front() == "line 11");
  CHECK(lines[lines.size() - 2] == "line 29");
  CHECK(lines.back() == std::string(ConsoleSink::kMaxLineBytes, 'x'));
}

TEST_CASE("console sink: a kernel panic is recognised, and forgotten by the next boot") {
  ConsoleSink sink(-1, UniqueFd());
  print(sink, "[    1.0] sysrq: Trigger a crash\n");
  CHECK_FALSE(sink.panic().has_value());
  // Split across writes, as the UART delivers it.
  print(sink, "[    1.1] Kernel panic - not syn");
  print(sink, "cing: sysrq triggered crash\n[    1.2] CPU: 0 PID: 1\n");
  REQUIRE(sink.panic().has_value());
  CHECK(*sink.panic() == "[    1.1] Kernel panic - not syncing: sysrq triggered crash");
  // The stack dump after the panic line does not push what led to it out of its context.
  for (int i = 0; i < 40; ++i) print(sink, "[    1.3]  dump_stack+0x18/0x24\n");
  const auto context = sink.panic_context();
  REQUIRE(context.size() == 2);
  CHECK(context[0] == "[    1.0] sysrq: Trigger a crash");
  CHECK(context[1] == *sink.panic());
  sink.new_boot();
  CHECK_FALSE(sink.panic().has_value());
  CHECK(sink.panic_context().empty());
}

TEST_CASE("console sink: whether the guest printed anything, per boot") {
  ConsoleSink sink(-1, UniqueFd());
  CHECK_FALSE(sink.printed());
  print(sink, "x");
  CHECK(sink.printed());
  sink.new_boot();
  CHECK_FALSE(sink.printed());
}

namespace petrel {
namespace {

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// What `petrel run | slow-reader` meets when the reader stops: the guest (the writer here)
// must go on at once. Before the buffer, the write blocked in the full pipe, and so did the
// vCPU that made it.
TEST_CASE("output buffer: a reader that stops reading never blocks the writer") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  constexpr size_t kLimit = 256 * 1024;
  constexpr size_t kTotal = 4 << 20;  // far more than the pipe and the buffer hold
  const std::string chunk(4096, 'g');
  auto out = std::make_unique<OutputBuffer>(fds[1], kLimit);
  auto writing = std::async(std::launch::async, [&] {
    for (size_t i = 0; i < kTotal / chunk.size(); ++i) out->write(bytes_of(chunk));
  });
  REQUIRE(writing.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  const uint64_t dropped = out->dropped();
  // At most the pipe's 64 KiB and the buffer's limit were taken before the reader came back.
  CHECK(dropped >= kTotal - kLimit - 65536);

  // The reader comes back: everything not counted as dropped arrives, in order.
  std::string received;
  std::thread reader([&] {
    char buffer[65536];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) received.append(buffer, n);
  });
  out.reset();  // writes what is queued
  close(fds[1]);
  reader.join();
  CHECK(received.size() + dropped == kTotal);
  CHECK(received == std::string(received.size(), 'g'));
  close(fds[0]);
}

TEST_CASE("output buffer: a reader that never comes back does not hold up the end") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  const std::string chunk(256 * 1024, 'h');
  const auto start = std::chrono::steady_clock::now();
  {
    OutputBuffer out(fds[1]);
    out.write(bytes_of(chunk));  // more than the pipe holds: the writer thread blocks
  }
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < OutputBuffer::kFlushTimeout + std::chrono::seconds(2));
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace petrel

#include "devices/virtqueue.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/virtio_test_helpers.h"

namespace petrel::virtio {
namespace {

using namespace petrel::virtio::testing;

// A queue of `size` (max 256) activated over `ring`'s layout.
Virtqueue make_queue(const GuardedMemory& ram, const DriverQueue& ring, uint64_t features = 0) {
  Virtqueue q(256);
  ring.configure(q);
  q.ready = true;
  auto activated = q.activate(ram, features);
  INFO((activated ? std::string() : activated.error().message));
  REQUIRE(activated);
  return q;
}

DescriptorChain pop_chain(Virtqueue& q) {
  auto popped = q.pop();
  INFO((popped ? std::string() : popped.error().message));
  REQUIRE(popped);
  REQUIRE(popped->has_value());
  return std::move(**popped);
}

void expect_empty(Virtqueue& q) {
  auto popped = q.pop();
  INFO((popped ? std::string() : popped.error().message));
  REQUIRE(popped);
  CHECK_FALSE(popped->has_value());
}

// The error of a pop that must fail.
std::string pop_error(Virtqueue& q) {
  auto popped = q.pop();
  REQUIRE_FALSE(popped);
  CHECK(popped.error().message.find('\n') == std::string::npos);
  return popped.error().message;
}

std::string activate_error(const GuardedMemory& ram, Virtqueue& q, uint64_t features = 0) {
  auto activated = q.activate(ram, features);
  REQUIRE_FALSE(activated);
  return activated.error().message;
}

using Catch::Matchers::Contains;

// ---- well-formed rings ----

TEST_CASE("virtqueue: the guard pages are in place", "[virtqueue]") {
  GuardedMemory ram;
  // Without them the out-of-RAM cases below still fail cleanly, they just prove less.
  CHECK(ram.guarded());
}

TEST_CASE("virtqueue: nothing to pop before activation or on an empty ring", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q(256);
  CHECK(q.max_size() == 256);
  CHECK(q.size() == 256);
  expect_empty(q);
  q.push_used(0, 0);  // ignored, nothing to write to
  CHECK_FALSE(q.needs_interrupt());
  CHECK_FALSE(q.arm_notification());

  ring.configure(q);
  REQUIRE(q.activate(ram, 0));
  CHECK(q.size() == 8);
  expect_empty(q);
}

TEST_CASE("virtqueue: a chain of readable then writable buffers", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const auto sent = ring.add({readable("head"), readable("er!"), writable(100), writable(1)});

  const DescriptorChain chain = pop_chain(q);
  CHECK(chain.head == sent.head);
  REQUIRE(chain.readable.size() == 2);
  REQUIRE(chain.writable.size() == 2);
  CHECK(chain.readable_bytes() == 7);
  CHECK(chain.writable_bytes() == 101);
  // The spans are the guest's own bytes, not copies.
  CHECK(chain.readable[0].data() == ram.host(sent.addresses[0]));
  CHECK(chain.readable[1].data() == ram.host(sent.addresses[1]));
  CHECK(chain.writable[0].data() == ram.host(sent.addresses[2]));
  CHECK(chain.writable[1].data() == ram.host(sent.addresses[3]));
  CHECK(text_of(chain.readable[0]) == "head");
  CHECK(chain.writable[0].size() == 100);
  expect_empty(q);

  chain.writable[1][0] = 0x5a;
  q.push_used(chain.head, 1);
  CHECK(ring.used_idx() == 1);
  CHECK(ring.last_used().id == sent.head);
  CHECK(ring.last_used().len == 1);
  CHECK(ring.read(sent.addresses[3], 1)[0] == 0x5a);
}

TEST_CASE("virtqueue: chains in the order the driver made them available", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const auto a = ring.add({readable("a")});
  const auto b = ring.add({writable(4), writable(4)});
  const auto c = ring.add({readable("c")});
  CHECK(pop_chain(q).head == a.head);
  const DescriptorChain second = pop_chain(q);
  CHECK(second.head == b.head);
  CHECK(second.readable.empty());
  CHECK(second.writable.size() == 2);
  CHECK(pop_chain(q).head == c.head);
  expect_empty(q);

  // Returned out of order, as a device may.
  q.push_used(c.head, 0);
  q.push_used(a.head, 0);
  CHECK(ring.used_idx() == 2);
  CHECK(ring.used_element(0).id == c.head);
  CHECK(ring.used_element(1).id == a.head);
}

TEST_CASE("virtqueue: descriptors need not be adjacent and the whole table may be one chain",
          "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 4);
  Virtqueue q = make_queue(ram, ring);
  const uint64_t buf = ring.alloc(64);
  ring.write(buf, bytes_of("0123456789abcdef"));
  // 2 -> 0 -> 3 -> 1: all four descriptors, a chain as long as the queue is allowed.
  ring.set_desc(2, buf, 4, kDescNext, 0);
  ring.set_desc(0, buf + 4, 4, kDescNext, 3);
  ring.set_desc(3, buf + 8, 4, kDescNext | kDescWrite, 1);
  ring.set_desc(1, buf + 12, 4, kDescWrite, 0xffff);  // next is ignored without NEXT
  ring.publish(2);
  const DescriptorChain chain = pop_chain(q);
  CHECK(chain.head == 2);
  REQUIRE(chain.readable.size() == 2);
  REQUIRE(chain.writable.size() == 2);
  CHECK(text_of(chain.readable[0]) == "0123");
  CHECK(text_of(chain.readable[1]) == "4567");
  CHECK(text_of(chain.writable[0]) == "89ab");
  CHECK(text_of(chain.writable[1]) == "cdef");
}

TEST_CASE("virtqueue: zero-length buffers are dropped and a buffer may end at the end of RAM",
          "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 4);
  Virtqueue q = make_queue(ram, ring);
  ring.set_desc(0, kRamBase + kDataOffset, 0, kDescNext, 1);
  ring.set_desc(1, kRamEnd - 16, 16, kDescNext | kDescWrite, 2);
  ring.set_desc(2, kRamEnd, 0, kDescWrite, 0);
  ring.publish(0);
  const DescriptorChain chain = pop_chain(q);
  CHECK(chain.readable.empty());
  REQUIRE(chain.writable.size() == 1);
  CHECK(chain.writable[0].data() == ram.host(kRamEnd - 16));
  CHECK(chain.writable[0].size() == 16);
}

TEST_CASE("virtqueue: an indirect chain", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring, kFeatureIndirectDesc);
  ring.add({readable("direct")});
  const auto sent = ring.add_indirect(
      {readable("header.........."), readable("payload"), writable(512), writable(1)});
  CHECK(text_of(pop_chain(q).readable[0]) == "direct");

  const DescriptorChain chain = pop_chain(q);
  CHECK(chain.head == sent.head);
  REQUIRE(chain.readable.size() == 2);
  REQUIRE(chain.writable.size() == 2);
  CHECK(text_of(chain.readable[0]) == "header..........");
  CHECK(text_of(chain.readable[1]) == "payload");
  CHECK(chain.writable[0].data() == ram.host(sent.addresses[2]));
  CHECK(chain.writable[0].size() == 512);
  CHECK(chain.writable[1].size() == 1);
  expect_empty(q);
  q.push_used(chain.head, 513);
  CHECK(ring.last_used().id == sent.head);
  CHECK(ring.last_used().len == 513);
}

TEST_CASE("virtqueue: an indirect table may be longer than the queue and in any order",
          "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 2);
  Virtqueue q = make_queue(ram, ring, kFeatureIndirectDesc);
  const uint64_t table = ring.alloc(16 * 8);
  const uint64_t buf = ring.alloc(8);
  ring.write(buf, bytes_of("ABCDEFGH"));
  // The device starts at entry 0; here the chain goes 0 -> 7 -> 6 -> ... -> 1, eight
  // descriptors in a queue of two (Linux builds such chains).
  ring.set_desc_in(table, 0, buf, 1, kDescNext, 7);
  for (uint16_t i = 1; i < 8; ++i) {
    const uint16_t flags = i == 1 ? 0 : kDescNext;
    ring.set_desc_in(table, i, buf + (8 - i), 1, flags, static_cast<uint16_t>(i - 1));
  }
  // The WRITE flag of the descriptor naming the table means nothing (section 2.7.5.3.2).
  ring.set_desc(1, table, 16 * 8, kDescIndirect | kDescWrite);
  ring.publish(1);
  const DescriptorChain chain = pop_chain(q);
  REQUIRE(chain.readable.size() == 8);
  CHECK(chain.writable.empty());
  std::string joined;
  for (auto span : chain.readable) joined += text_of(span);
  CHECK(joined == "ABCDEFGH");
}

TEST_CASE("virtqueue: reset forgets the rings and the size", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  ring.add({readable("x")});
  q.reset();
  CHECK(q.size() == 256);
  CHECK_FALSE(q.ready);
  CHECK(q.desc_table == 0);
  CHECK(q.avail_ring == 0);
  CHECK(q.used_ring == 0);
  expect_empty(q);
}

TEST_CASE("virtqueue: activation takes over the used index from stale contents", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  ring.set_used_idx(77);
  Virtqueue q = make_queue(ram, ring);
  CHECK(ring.used_idx() == 0);
  const auto sent = ring.add({readable("x")});
  q.push_used(pop_chain(q).head, 0);
  CHECK(ring.used_idx() == 1);
  CHECK(ring.used_element(0).id == sent.head);
}

// ---- ring indices ----

TEST_CASE("virtqueue: 16-bit ring indices wrap around", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 4);
  Virtqueue q = make_queue(ram, ring);
  // Past 65535 twice over, with some batches that straddle the wrap.
  uint32_t done = 0;
  for (int round = 0; done < 2 * 65536 + 10; ++round) {
    const int batch = 1 + round % 4;
    std::vector<uint16_t> heads;
    for (int i = 0; i < batch; ++i) heads.push_back(ring.add({writable(8)}).head);
    for (int i = 0; i < batch; ++i) {
      const DescriptorChain chain = pop_chain(q);
      REQUIRE(chain.head == heads[i]);
      q.push_used(chain.head, static_cast<uint32_t>(done + i) & 0xff);
    }
    expect_empty(q);
    done += batch;
    REQUIRE(ring.used_idx() == static_cast<uint16_t>(done));
    REQUIRE(ring.last_used().id == heads.back());
    REQUIRE(ring.last_used().len == ((done - 1) & 0xff));
  }
  CHECK(ring.avail_idx() == static_cast<uint16_t>(done));
}

TEST_CASE("virtqueue: a full ring is fine, an index further ahead is an error", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 4);
  for (uint16_t i = 0; i < 4; ++i) ring.set_desc(i, kRamBase + kDataOffset, 8);

  SECTION("exactly the queue size") {
    Virtqueue q = make_queue(ram, ring);
    for (uint16_t i = 0; i < 4; ++i) ring.publish(i);
    for (uint16_t i = 0; i < 4; ++i) CHECK(pop_chain(q).head == i);
    expect_empty(q);
  }
  SECTION("one more than the queue size") {
    Virtqueue q = make_queue(ram, ring);
    ring.set_avail_idx(5);
    CHECK_THAT(pop_error(q), Contains("ahead"));
  }
  SECTION("far ahead") {
    Virtqueue q = make_queue(ram, ring);
    ring.set_avail_idx(0x8000);
    CHECK_THAT(pop_error(q), Contains("ahead"));
  }
  SECTION("behind the device (a driver that moved idx backwards)") {
    Virtqueue q = make_queue(ram, ring);
    ring.publish(0);
    pop_chain(q);
    ring.set_avail_idx(0);  // 0 - 1 = 65535 entries pending
    CHECK_THAT(pop_error(q), Contains("ahead"));
  }
  SECTION("ahead across the wrap") {
    Virtqueue q = make_queue(ram, ring);
    ring.set_avail_idx(0xffff);
    CHECK_THAT(pop_error(q), Contains("ahead"));
  }
}

// ---- interrupt suppression ----

TEST_CASE("virtqueue: without event-idx, NO_INTERRUPT decides", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  // Nothing returned: nothing to interrupt for.
  CHECK_FALSE(q.needs_interrupt());

  ring.add({writable(1)});
  q.push_used(pop_chain(q).head, 1);
  CHECK(q.needs_interrupt());
  CHECK_FALSE(q.needs_interrupt());  // the batch was reset

  ring.set_avail_flags(1);  // VIRTQ_AVAIL_F_NO_INTERRUPT
  ring.add({writable(1)});
  q.push_used(pop_chain(q).head, 1);
  CHECK_FALSE(q.needs_interrupt());

  ring.set_avail_flags(0);
  ring.add({writable(1)});
  ring.add({writable(1)});
  q.push_used(pop_chain(q).head, 1);
  q.push_used(pop_chain(q).head, 1);
  CHECK(q.needs_interrupt());
}

TEST_CASE("virtqueue: without event-idx, arming writes nothing past the used ring", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  ring.put<uint16_t>(ring.avail_event_address(), 0xbeef);
  Virtqueue q = make_queue(ram, ring);
  ring.add({writable(1)});
  CHECK(q.arm_notification());  // one chain is waiting
  pop_chain(q);
  CHECK_FALSE(q.arm_notification());
  CHECK(ring.avail_event() == 0xbeef);
}

TEST_CASE("virtqueue: event-idx interrupts when used_event is crossed", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring, kFeatureEventIdx);
  auto serve_one = [&] {
    ring.add({writable(1)});
    q.push_used(pop_chain(q).head, 1);
  };

  ring.set_used_event(0);  // interrupt after the first used entry
  serve_one();             // used idx 0 -> 1
  CHECK(q.needs_interrupt());
  serve_one();  // 1 -> 2: used_event 0 already passed
  CHECK_FALSE(q.needs_interrupt());

  ring.set_used_event(2);  // interrupt after entry 2
  serve_one();             // 2 -> 3
  CHECK(q.needs_interrupt());

  ring.set_used_event(4);
  serve_one();  // 3 -> 4: not yet
  CHECK_FALSE(q.needs_interrupt());

  // A batch that steps over used_event somewhere in the middle.
  ring.set_used_event(5);
  serve_one();
  serve_one();
  serve_one();  // 4 -> 7
  CHECK(q.needs_interrupt());

  // A batch that stops short of it.
  ring.set_used_event(20);
  serve_one();
  serve_one();  // 7 -> 9
  CHECK_FALSE(q.needs_interrupt());

  // With event-idx the NO_INTERRUPT flag is ignored.
  ring.set_avail_flags(1);
  ring.set_used_event(9);
  serve_one();  // 9 -> 10
  CHECK(q.needs_interrupt());
}

TEST_CASE("virtqueue: event-idx across the 16-bit wrap", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 4);
  Virtqueue q = make_queue(ram, ring, kFeatureEventIdx);
  ring.set_used_event(0x7fff);  // far away: no interrupts on the way to the wrap
  for (uint32_t i = 0; i < 65534; ++i) {
    ring.add({writable(1)});
    q.push_used(pop_chain(q).head, 1);
    REQUIRE(q.needs_interrupt() == (i == 0x7fff));
  }
  CHECK(ring.used_idx() == 65534);
  ring.set_used_event(0);  // interrupt after entry 0 of the next lap
  for (int i = 0; i < 2; ++i) {
    ring.add({writable(1)});
    q.push_used(pop_chain(q).head, 1);
  }
  CHECK_FALSE(q.needs_interrupt());  // 65534 -> 0 does not pass entry 0
  ring.add({writable(1)});
  q.push_used(pop_chain(q).head, 1);
  CHECK(q.needs_interrupt());  // 0 -> 1 does
  CHECK(ring.used_idx() == 1);
}

TEST_CASE("virtqueue: event-idx arming publishes avail_event", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring, kFeatureEventIdx);
  ring.put<uint16_t>(ring.avail_event_address(), 0xbeef);

  CHECK_FALSE(q.arm_notification());
  CHECK(ring.avail_event() == 0);

  ring.add({readable("a")});
  ring.add({readable("b")});
  pop_chain(q);
  pop_chain(q);
  CHECK_FALSE(q.arm_notification());
  CHECK(ring.avail_event() == 2);  // notify me when entry 2 is made available

  // The driver added one more meanwhile: the device must look again before sleeping.
  ring.add({readable("c")});
  CHECK(q.arm_notification());
  CHECK(ring.avail_event() == 2);
  pop_chain(q);
  CHECK_FALSE(q.arm_notification());
  CHECK(ring.avail_event() == 3);
}

// ---- malformed rings: each is an error, never a crash or an access outside RAM ----

TEST_CASE("virtqueue: a head index out of the table", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  for (uint16_t head : {uint16_t{8}, uint16_t{9}, uint16_t{0xffff}}) {
    ring.publish(head);
    CHECK_THAT(pop_error(q), Contains("names descriptor"));
  }
}

TEST_CASE("virtqueue: a next index out of the table", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  ring.set_desc(0, kRamBase + kDataOffset, 8, kDescNext, 1);
  ring.set_desc(1, kRamBase + kDataOffset, 8, kDescNext, 8);
  ring.publish(0);
  CHECK_THAT(pop_error(q), Contains("links to descriptor"));
  ring.set_desc(3, kRamBase + kDataOffset, 8, kDescNext, 0xffff);
  ring.publish(3);
  CHECK_THAT(pop_error(q), Contains("links to descriptor"));
}

TEST_CASE("virtqueue: descriptor loops", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const uint64_t buf = kRamBase + kDataOffset;

  SECTION("a descriptor that names itself") {
    ring.set_desc(0, buf, 8, kDescNext, 0);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("longer than"));
  }
  SECTION("next pointing back to the head") {
    ring.set_desc(0, buf, 8, kDescNext, 1);
    ring.set_desc(1, buf, 8, kDescNext, 2);
    ring.set_desc(2, buf, 8, kDescNext, 0);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("longer than"));
  }
  SECTION("a loop that does not include the head, writable so no ordering error stops it") {
    ring.set_desc(5, buf, 8, kDescNext | kDescWrite, 6);
    ring.set_desc(6, buf, 8, kDescNext | kDescWrite, 7);
    ring.set_desc(7, buf, 8, kDescNext | kDescWrite, 6);
    ring.publish(5);
    CHECK_THAT(pop_error(q), Contains("longer than"));
  }
  SECTION("a loop of zero-length buffers") {
    ring.set_desc(0, buf, 0, kDescNext, 1);
    ring.set_desc(1, buf, 0, kDescNext, 0);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("longer than"));
  }
  SECTION("a loop inside an indirect table") {
    const uint64_t table = kRamBase + 0x3'0000;
    ring.set_desc_in(table, 0, buf, 8, kDescNext, 1);
    ring.set_desc_in(table, 1, buf, 8, kDescNext, 0);
    ring.set_desc(0, table, 32, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("longer than"));
  }
}

TEST_CASE("virtqueue: buffers outside guest RAM", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  struct Case {
    uint64_t address;
    uint32_t length;
  };
  const Case cases[] = {
      {0, 16},                             // below RAM
      {kRamBase - 16, 16},                 // just below
      {kRamBase - 8, 16},                  // straddles the start
      {kRamEnd - 8, 16},                   // straddles the end
      {kRamEnd, 1},                        // just past the end
      {kRamEnd - 1, 0xffffffff},           // from inside to far past the end
      {kRamBase, 0xffffffff},              // longer than RAM
      {0xffff'ffff'ffff'fff0, 0x20},       // address + length wraps past 2^64
      {0xffff'ffff'ffff'ffff, 1},          // the very last byte of the address space
      {0xffff'ffff'ffff'ffff, 0xffffffff}  // wraps to land inside RAM's low addresses
  };
  for (const Case& c : cases) {
    for (uint16_t flags : {uint16_t{0}, kDescWrite}) {
      INFO("address " << std::hex << c.address << " length " << c.length << " flags " << flags);
      ring.set_desc(0, c.address, c.length, flags);
      ring.publish(0);
      CHECK_THAT(pop_error(q), Contains("outside guest RAM"));
    }
  }
  // The same after a good buffer in the chain.
  ring.set_desc(1, kRamBase + kDataOffset, 8, kDescNext, 2);
  ring.set_desc(2, kRamEnd - 4, 8, kDescWrite);
  ring.publish(1);
  CHECK_THAT(pop_error(q), Contains("outside guest RAM"));
}

TEST_CASE("virtqueue: a readable buffer after a writable one", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const uint64_t buf = kRamBase + kDataOffset;
  SECTION("direct") {
    ring.set_desc(0, buf, 8, kDescNext, 1);
    ring.set_desc(1, buf, 8, kDescNext | kDescWrite, 2);
    ring.set_desc(2, buf, 8, 0);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("readable buffer after a writable"));
  }
  SECTION("indirect") {
    const uint64_t table = kRamBase + 0x3'0000;
    ring.set_desc_in(table, 0, buf, 8, kDescNext | kDescWrite, 1);
    ring.set_desc_in(table, 1, buf, 8, 0);
    ring.set_desc(0, table, 32, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("readable buffer after a writable"));
  }
}

TEST_CASE("virtqueue: malformed indirect descriptors", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring, kFeatureIndirectDesc);
  const uint64_t buf = kRamBase + kDataOffset;
  const uint64_t table = kRamBase + 0x3'0000;
  const uint64_t inner = kRamBase + 0x3'8000;
  ring.set_desc_in(inner, 0, buf, 8, 0);

  SECTION("an indirect table that names another one") {
    ring.set_desc_in(table, 0, buf, 8, kDescNext, 1);
    ring.set_desc_in(table, 1, inner, 16, kDescIndirect);
    ring.set_desc(0, table, 32, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("nests indirect"));
  }
  SECTION("an indirect table whose first entry is indirect") {
    ring.set_desc_in(table, 0, table, 16, kDescIndirect);  // itself, even
    ring.set_desc(0, table, 16, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("nests indirect"));
  }
  SECTION("indirect and NEXT together") {
    ring.set_desc_in(table, 0, buf, 8, 0);
    ring.set_desc(0, table, 16, kDescIndirect | kDescNext, 1);
    ring.set_desc(1, buf, 8, 0);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("both indirect and chained"));
  }
  SECTION("a table length that is not a whole number of descriptors") {
    for (uint32_t length : {1u, 8u, 15u, 17u, 24u, 0xffffffffu}) {
      INFO("length " << length);
      ring.set_desc(0, table, length, kDescIndirect);
      ring.publish(0);
      CHECK_THAT(pop_error(q), Contains("indirect table of"));
    }
  }
  SECTION("an empty table") {
    ring.set_desc(0, table, 0, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("indirect table of"));
  }
  SECTION("a huge table") {
    ring.set_desc(0, kRamBase, 0xfffffff0u, kDescIndirect);
    ring.publish(0);
    CHECK_FALSE(pop_error(q).empty());
  }
  SECTION("a table outside RAM") {
    for (uint64_t address :
         {uint64_t{0}, kRamBase - 16, kRamEnd - 16, kRamEnd, uint64_t{0xffff'ffff'ffff'fff0}}) {
      INFO("address " << std::hex << address);
      ring.set_desc(0, address, 32, kDescIndirect);
      ring.publish(0);
      CHECK_THAT(pop_error(q), Contains("outside guest RAM"));
    }
  }
  SECTION("a next index past the table") {
    ring.set_desc_in(table, 0, buf, 8, kDescNext, 1);
    ring.set_desc_in(table, 1, buf, 8, kDescNext, 2);  // the table has 2 entries
    ring.set_desc(0, table, 32, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("links to descriptor"));
  }
  SECTION("a buffer outside RAM in the table") {
    ring.set_desc_in(table, 0, kRamEnd - 4, 8, 0);
    ring.set_desc(0, table, 16, kDescIndirect);
    ring.publish(0);
    CHECK_THAT(pop_error(q), Contains("outside guest RAM"));
  }
}

// ---- activation ----

TEST_CASE("virtqueue: activation refuses bad queue sizes", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  for (uint16_t size : {uint16_t{0}, uint16_t{3}, uint16_t{6}, uint16_t{255}, uint16_t{257},
                        uint16_t{512}, uint16_t{0x8000}, uint16_t{0xffff}}) {
    INFO("size " << size);
    Virtqueue q(256);
    ring.configure(q);
    q.set_size(size);
    CHECK_THAT(activate_error(ram, q), Contains("power of two"));
    expect_empty(q);  // and the queue stays inert
  }
  for (uint16_t size : {uint16_t{1}, uint16_t{2}, uint16_t{128}, uint16_t{256}}) {
    INFO("size " << size);
    Virtqueue q(256);
    ring.configure(q);
    q.set_size(size);
    CHECK(q.activate(ram, kFeatureEventIdx));
  }
  // A smaller maximum.
  Virtqueue small(64);
  ring.configure(small);
  small.set_size(128);
  CHECK_THAT(activate_error(ram, small), Contains("power of two"));
}

TEST_CASE("virtqueue: activation refuses misaligned rings", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q(256);
  SECTION("descriptor table") {
    for (uint64_t offset : {1, 2, 4, 8}) {
      ring.configure(q);
      q.desc_table += offset;
      CHECK_THAT(activate_error(ram, q), Contains("aligned"));
    }
  }
  SECTION("available ring") {
    ring.configure(q);
    q.avail_ring += 1;
    CHECK_THAT(activate_error(ram, q), Contains("aligned"));
  }
  SECTION("used ring") {
    for (uint64_t offset : {1, 2, 3}) {
      ring.configure(q);
      q.used_ring += offset;
      CHECK_THAT(activate_error(ram, q), Contains("aligned"));
    }
  }
  SECTION("the minimum alignments are enough") {
    ring.configure(q);
    q.desc_table += 16;
    q.avail_ring += 2;
    q.used_ring += 4;
    CHECK(q.activate(ram, kFeatureEventIdx));
  }
}

TEST_CASE("virtqueue: activation refuses rings outside RAM", "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);  // table 128 bytes, avail 20 (+2), used 68 (+2)
  Virtqueue q(256);
  const uint64_t far = 0xffff'ffff'ffff'fff0;  // aligned to 16, wraps past 2^64
  SECTION("descriptor table") {
    for (uint64_t address :
         {uint64_t{0}, kRamBase - 128, kRamBase - 16, kRamEnd - 112, kRamEnd, far}) {
      INFO("address " << std::hex << address);
      ring.configure(q);
      q.desc_table = address;
      CHECK_THAT(activate_error(ram, q), Contains("outside guest RAM"));
    }
  }
  SECTION("available ring") {
    for (uint64_t address : {uint64_t{0}, kRamBase - 2, kRamEnd - 18, kRamEnd, far}) {
      INFO("address " << std::hex << address);
      ring.configure(q);
      q.avail_ring = address;
      CHECK_THAT(activate_error(ram, q), Contains("outside guest RAM"));
    }
  }
  SECTION("used ring") {
    for (uint64_t address : {uint64_t{0}, kRamBase - 4, kRamEnd - 64, kRamEnd, far}) {
      INFO("address " << std::hex << address);
      ring.configure(q);
      q.used_ring = address;
      CHECK_THAT(activate_error(ram, q), Contains("outside guest RAM"));
    }
  }
  SECTION("the event-idx fields count") {
    // Rings that end exactly at the end of RAM fit without event-idx but not with it.
    ring.configure(q);
    q.avail_ring = kRamEnd - (4 + 2 * 8);
    q.used_ring = kRamEnd - 0x100 - (4 + 8 * 8);
    CHECK(q.activate(ram, 0));
    q.reset();
    ring.configure(q);
    q.avail_ring = kRamEnd - (4 + 2 * 8);
    CHECK_THAT(activate_error(ram, q, kFeatureEventIdx), Contains("outside guest RAM"));
    q.reset();
    ring.configure(q);
    q.used_ring = kRamEnd - (4 + 8 * 8);
    CHECK_THAT(activate_error(ram, q, kFeatureEventIdx), Contains("outside guest RAM"));
  }
  SECTION("rings that end at the end of RAM work, event-idx fields included") {
    // The available ring, used_event included, ends at the last byte of RAM.
    DriverQueue edge(ram, 8, kRamEnd - 0x200, kRamEnd - 22, kRamEnd - 0x100,
                     kRamBase + kDataOffset);
    Virtqueue live(256);
    edge.configure(live);
    REQUIRE(live.activate(ram, kFeatureEventIdx));
    for (int i = 0; i < 20; ++i) {
      edge.add({writable(4)});
      live.push_used(pop_chain(live).head, 4);
      CHECK_FALSE(live.arm_notification());
    }
    CHECK(edge.used_idx() == 20);
    CHECK(edge.avail_event() == 20);
  }
}

// A driver may configure a live queue again and activate it again without a reset (the
// transport does so if the guest clears and sets DRIVER_OK). If that activation fails, the
// queue must not go on with a mix of the rings it had and the ones it was just refused:
// here the descriptor table moves and shrinks to 4 entries, the used ring is refused, and
// the old available ring names descriptor 6, which the new table does not have.
TEST_CASE("virtqueue: a failed activation leaves no half-configured queue behind",
          "[virtqueue][malicious]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const uint64_t new_table = kRamBase + 0x3'0000;
  // Entry 6 of a table at new_table, were it 8 long: a plausible buffer.
  ring.set_desc_in(new_table, 6, kRamBase + kDataOffset, 16, 0);
  ring.publish(6);

  q.set_size(4);
  q.desc_table = new_table;
  q.used_ring = kRamEnd;
  REQUIRE_FALSE(q.activate(ram, 0));

  auto popped = q.pop();
  CHECK((!popped || !popped->has_value()));  // an error or nothing, but no chain
}

// ---- chain readers and writers ----

TEST_CASE("virtqueue: ChainReader reads across buffers and refuses short reads", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  ring.add({readable("abc"), readable("defgh"), readable("ij"), writable(4)});
  const DescriptorChain chain = pop_chain(q);
  ChainReader reader(chain);
  CHECK(reader.remaining() == 10);
  std::vector<uint8_t> four(4);
  REQUIRE(reader.read(four));
  CHECK(text_of(four) == "abcd");
  CHECK(reader.remaining() == 6);
  auto rest = reader.rest();
  REQUIRE(rest.size() == 2);
  CHECK(text_of(rest[0]) == "efgh");
  CHECK(text_of(rest[1]) == "ij");

  std::vector<uint8_t> seven(7);
  CHECK_FALSE(reader.read(seven));  // only 6 left: nothing consumed
  CHECK(reader.remaining() == 6);
  REQUIRE(reader.read(four));
  CHECK(text_of(four) == "efgh");
  std::vector<uint8_t> two(2);
  REQUIRE(reader.read(two));
  CHECK(text_of(two) == "ij");
  CHECK(reader.remaining() == 0);
  CHECK(reader.rest().empty());
  CHECK_FALSE(reader.read(two));
  CHECK(reader.read(std::span<uint8_t>()));  // an empty read always works
}

TEST_CASE("virtqueue: ChainWriter fills buffers in order and stops when full", "[virtqueue]") {
  GuardedMemory ram;
  DriverQueue ring(ram, 8);
  Virtqueue q = make_queue(ram, ring);
  const auto sent = ring.add({readable("r"), writable(3, 0), writable(4, 0)});
  const DescriptorChain chain = pop_chain(q);
  ChainWriter writer(chain);
  CHECK(writer.write(bytes_of("12")) == 2);
  CHECK(writer.write(bytes_of("3456")) == 4);
  CHECK(writer.write(bytes_of("789")) == 1);  // one byte of room left
  CHECK(writer.written() == 7);
  CHECK(writer.write(bytes_of("x")) == 0);
  CHECK(text_of(ring.read(sent.addresses[1], 3)) == "123");
  CHECK(text_of(ring.read(sent.addresses[2], 4)) == "4567");
  CHECK(text_of(ring.read(sent.addresses[0], 1)) == "r");  // readable buffers untouched
}

}  // namespace
}  // namespace petrel::virtio

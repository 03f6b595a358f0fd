#include "devices/pl061.h"

#include <spdlog/spdlog.h>

namespace petrel {

namespace {

// Registers (PL061 TRM, ARM DDI 0190): 8-bit values in 32-bit words.
constexpr uint64_t kDataEnd = 0x400;  // GPIODATA: address bits [9:2] mask the lines accessed
constexpr uint64_t kDirection = 0x400;
constexpr uint64_t kInterruptSense = 0x404;
constexpr uint64_t kInterruptBothEdges = 0x408;
constexpr uint64_t kInterruptEvent = 0x40c;
constexpr uint64_t kInterruptMask = 0x410;
constexpr uint64_t kRawInterrupt = 0x414;
constexpr uint64_t kMaskedInterrupt = 0x418;
constexpr uint64_t kInterruptClear = 0x41c;
constexpr uint64_t kModeControl = 0x420;  // GPIOAFSEL
// PrimeCell identification registers: the AMBA bus matches the driver by these.
constexpr uint64_t kIdBase = 0xfe0;
constexpr uint8_t kIdBytes[8] = {0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

// The lines a GPIODATA access at `offset` reaches.
uint8_t data_mask(uint64_t offset) { return static_cast<uint8_t>(offset >> 2); }

// Registers are words; Linux reads and writes them a byte at a time (readb/writeb) and the
// AMBA bus reads the IDs as words. Anything else (an unaligned or 8-byte access) reads 0 and
// writes nothing.
bool valid_access(uint64_t offset, size_t bytes) {
  return offset % 4 == 0 && (bytes == 1 || bytes == 2 || bytes == 4);
}

std::shared_ptr<MmioDevice> make_power_button(const DeviceSetup& setup, uint64_t base) {
  return std::make_shared<Pl061>(base, setup.interrupt_line, *setup.interrupt, true);
}

constexpr DeviceKey kPowerButtonKeys[] = {{"enabled", "boolean, default true"}};

}  // namespace

constexpr DeviceType kPowerButtonType = {
    .config = {.table = "power_button",
               .keys = kPowerButtonKeys,
               .flag = {.form = DeviceFlag::Form::kSwitch,
                        .name = "power-button",
                        .help = "power button (a PL061 GPIO line, KEY_POWER) for a graceful "
                                "stop ([power_button])"},
               .read = read_enabled_table,
               .power_button = true},
    .make_platform = make_power_button,
};

Pl061::Pl061(uint64_t base, uint32_t spi, InterruptLine& irq, bool power_key)
    : base_(base), spi_(spi), irq_(irq), power_key_(power_key) {}

uint8_t Pl061::pin_levels() const {
  return static_cast<uint8_t>((data_ & dir_) | (inputs_ & ~dir_));
}

uint8_t Pl061::raw_interrupts() const {
  const uint8_t level_match = static_cast<uint8_t>(~(pin_levels() ^ event_));
  return static_cast<uint8_t>(edges_ | (sense_ & level_match));
}

// Latches the edges that edge-sensitive lines look for among the pins that changed.
void Pl061::pins_changed(uint8_t before) {
  const uint8_t after = pin_levels();
  const uint8_t changed = before ^ after;
  const uint8_t rising = changed & after;
  const uint8_t falling = changed & before;
  const uint8_t wanted =
      (both_ & changed) | (~both_ & event_ & rising) | (~both_ & ~event_ & falling);
  edges_ |= static_cast<uint8_t>(wanted & ~sense_);
  update_interrupt();
}

void Pl061::update_interrupt() {
  const bool asserted = (raw_interrupts() & enabled_) != 0;
  if (asserted == asserted_) return;
  asserted_ = asserted;
  irq_.set_level(asserted);
}

void Pl061::mmio_read(uint64_t offset, std::span<uint8_t> data) {
  if (!valid_access(offset, data.size())) {
    spdlog::debug("pl061: {}-byte read at {:#x} ignored", data.size(), offset);
    store_le_any(data, 0);
    return;
  }
  std::lock_guard lock(mutex_);
  uint32_t value = 0;
  if (offset < kDataEnd) {
    value = pin_levels() & data_mask(offset);
  } else {
    switch (offset) {
      case kDirection: value = dir_; break;
      case kInterruptSense: value = sense_; break;
      case kInterruptBothEdges: value = both_; break;
      case kInterruptEvent: value = event_; break;
      case kInterruptMask: value = enabled_; break;
      case kRawInterrupt: value = raw_interrupts(); break;
      case kMaskedInterrupt: value = raw_interrupts() & enabled_; break;
      case kModeControl: value = afsel_; break;
      default:
        if (offset >= kIdBase) value = kIdBytes[(offset - kIdBase) / 4];
        break;  // GPIOIC is write-only; the rest of the window is reserved
    }
  }
  store_le_any(data, value);
}

void Pl061::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  if (!valid_access(offset, data.size())) {
    spdlog::debug("pl061: {}-byte write at {:#x} ignored", data.size(), offset);
    return;
  }
  const auto value = static_cast<uint8_t>(load_le_any(data));
  std::lock_guard lock(mutex_);
  const uint8_t before = pin_levels();
  if (offset < kDataEnd) {
    // Only the masked lines change, and only outputs show it on their pins.
    const uint8_t mask = data_mask(offset);
    data_ = static_cast<uint8_t>((data_ & ~mask) | (value & mask));
    pins_changed(before);
    return;
  }
  switch (offset) {
    case kDirection:
      dir_ = value;
      pins_changed(before);
      return;
    case kInterruptSense: sense_ = value; break;
    case kInterruptBothEdges: both_ = value; break;
    case kInterruptEvent: event_ = value; break;
    case kInterruptMask: enabled_ = value; break;
    case kInterruptClear: edges_ &= static_cast<uint8_t>(~value); break;
    case kModeControl: afsel_ = value; break;
    default: return;  // read-only or reserved
  }
  update_interrupt();
}

void Pl061::set_input(unsigned line, bool level) {
  if (line >= kLines) return;
  std::lock_guard lock(mutex_);
  const uint8_t before = pin_levels();
  const auto bit = static_cast<uint8_t>(1u << line);
  inputs_ = level ? (inputs_ | bit) : (inputs_ & ~bit);
  pins_changed(before);
}

void Pl061::set_pressed(bool pressed) {
  if (power_key_) set_input(kPowerKeyLine, pressed);
}

DeviceResources Pl061::resources() const {
  DeviceResources resources{
      .kind = "gpio",
      .mmio = mmio_range(),
      .compatible = {"arm,pl061", "arm,primecell"},
      .values = {{"#gpio-cells", 2}},
      .interrupt =
          DeviceResources::Interrupt{spi_, DeviceResources::Interrupt::Trigger::kLevelHigh},
      .clocks = {"apb_pclk"},
      .flags = {"gpio-controller"},
  };
  if (power_key_) {
    // QEMU virt's layout (create_gpio_keys), which Linux guests already know: line 3, flags
    // 0 (GPIO_ACTIVE_HIGH), so a press is the line going high. The gpio-keys driver asks for
    // an interrupt on both edges and reads the line after its debounce time.
    DeviceResources::Companion key{.name = "poweroff",
                                   .strings = {{"label", "GPIO Key Poweroff"}},
                                   .values = {{"linux,code", kKeyPower}},
                                   .references = {{"gpios", {kPowerKeyLine, 0}}}};
    resources.companions.push_back(
        {.name = "gpio-keys", .strings = {{"compatible", "gpio-keys"}}, .children = {key}});
  }
  return resources;
}

}  // namespace petrel

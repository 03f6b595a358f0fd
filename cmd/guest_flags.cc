#include "cmd/guest_flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace petrel {

namespace {

std::unexpected<Error> bad_flag(std::string_view origin, std::string_view message) {
  return fail(ExitCode::kBadConfig, fmt::format("{}: {}", origin, message));
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

// "PATH,word,key=value,..." as a TOML inline table for an array-of-tables entry: PATH is
// `first_key`, each bare word a boolean key set true, each key=value a string key. Which
// words and keys are known is the validator's business, like any key of the file.
std::string inline_table(std::string_view text, const DeviceFlag& form) {
  std::vector<std::string> members;
  const auto parts = split(text, ',');
  members.push_back(fmt::format("{} = {}", form.first_key, toml_string(parts[0])));
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    const size_t equals = part.find('=');
    if (equals != std::string_view::npos) {
      members.push_back(fmt::format("{} = {}", toml_string(part.substr(0, equals)),
                                    toml_string(part.substr(equals + 1))));
      continue;
    }
    std::string_view key = part;
    for (const auto& [word, meaning] : form.words) {
      if (part == word) key = meaning;
    }
    members.push_back(fmt::format("{} = true", toml_string(key)));
  }
  return fmt::format("{{ {} }}", fmt::join(members, ", "));
}

}  // namespace

// Repeatable flags take one value each (allow_extra_args(false)): `--drive a.img guest.toml`
// must not read guest.toml as a second drive.
void GuestFlags::add_to(CLI::App& command) {
  command.add_option("config", config_, "the guest's TOML file (none: quick mode, from flags)");
  command.add_option("--name", name_, "name of the guest (name)");
  command.add_option("--kernel", kernel_, "arm64 Image or Image.gz (boot.kernel)");
  command.add_option("--initrd", initrd_, "initramfs (boot.initrd)");
  command.add_option("--append", append_,
                     "kernel command line, replacing the file's (boot.cmdline); arguments "
                     "after -- are added to it");
  command.add_option("--vcpus", vcpus_, "number of vCPUs (machine.vcpus)");
  command.add_option("--memory", memory_, "guest RAM, e.g. 512M, 2G (machine.memory)");
  command.add_option("--stop-grace", stop_grace_,
                     "on SIGTERM, press the power button and wait this long, e.g. 10s "
                     "(machine.stop_grace)");
  // Each device kind's flag, as its registration describes it.
  for (const DeviceConfigKind* kind : kinds_) {
    const DeviceFlag& flag = kind->flag;
    if (flag.form == DeviceFlag::Form::kNone) continue;
    DeviceFlagValues& values = device_flags_.emplace_back(DeviceFlagValues{kind, {}});
    const std::string name = fmt::format("--{}", flag.name);
    const std::string help(flag.help);
    if (flag.form == DeviceFlag::Form::kSwitch) {
      command.add_flag(name, values.given, help);
    } else {
      command.add_option(name, values.entries, help)->allow_extra_args(false);
    }
  }
  command.add_option("--console", console_, "stdio or none (console.mode)");
  command.add_option("--console-log", console_log_,
                     "also write the guest console to FILE (console.log)");
  command.add_option("--api-sock", api_sock_,
                     "serve the control socket at PATH, or none (api.socket; default: "
                     "NAME.sock in the runtime folder)");
  command.add_option("--uart", uart_, "pl011 or 16550, the console UART (console.uart)");
  command
      .add_option("--set", sets_,
                  "set any config key, e.g. --set machine.vcpus=4, after the other flags; "
                  "repeatable")
      ->allow_extra_args(false);
}

std::string GuestFlags::source_name() const {
  return config_ ? config_->string() : std::string("command line");
}

Result<std::vector<ConfigOverride>> GuestFlags::overrides() const {
  using Form = ConfigOverride::Form;
  std::vector<ConfigOverride> out;
  auto add = [&out](std::string_view flag, const std::optional<std::string>& value, std::string key,
                    Form form) {
    if (value) out.push_back({fmt::format("{} {}", flag, *value), std::move(key), *value, form});
  };
  add("--name", name_, "name", Form::kString);
  add("--kernel", kernel_, "boot.kernel", Form::kString);
  add("--initrd", initrd_, "boot.initrd", Form::kString);
  add("--append", append_, "boot.cmdline", Form::kString);
  add("--vcpus", vcpus_, "machine.vcpus", Form::kGuess);
  add("--memory", memory_, "machine.memory", Form::kString);
  add("--stop-grace", stop_grace_, "machine.stop_grace", Form::kString);
  add("--console", console_, "console.mode", Form::kString);
  add("--console-log", console_log_, "console.log", Form::kString);
  add("--api-sock", api_sock_, "api.socket", Form::kString);
  add("--uart", uart_, "console.uart", Form::kString);
  for (const DeviceFlagValues& values : device_flags_) {
    const DeviceFlag& flag = values.kind->flag;
    for (const std::string& entry : values.entries) {
      out.push_back({fmt::format("--{} {}", flag.name, entry),
                     fmt::format("{}[]", values.kind->table), inline_table(entry, flag),
                     Form::kGuess});
    }
    if (values.given) {
      out.push_back({fmt::format("--{}", flag.name), fmt::format("{}.enabled", values.kind->table),
                     "true", Form::kGuess});
    }
  }
  if (!kernel_args_.empty()) {
    out.push_back({fmt::format("-- {}", fmt::join(kernel_args_, " ")), "boot.cmdline",
                   fmt::format("{}", fmt::join(kernel_args_, " ")), Form::kAppend});
  }
  for (const std::string& set : sets_) {
    const size_t equals = set.find('=');
    if (equals == std::string::npos || equals == 0) {
      return bad_flag("--set " + set, "expected KEY=VALUE, e.g. --set machine.vcpus=4");
    }
    out.push_back({"--set " + set, set.substr(0, equals), set.substr(equals + 1), Form::kGuess});
  }
  return out;
}

Result<Config> GuestFlags::load() const {
  auto keys = TRY(overrides());
  if (config_) return load_config(kinds_, *config_, keys);
  const bool kernel_given =
      std::ranges::any_of(keys, [](const ConfigOverride& key) { return key.key == "boot.kernel"; });
  if (!kernel_given) {
    return fail(ExitCode::kBadConfig,
                "no guest given: name a config file, or a kernel with --kernel (quick mode)");
  }
  return config_from_overrides(kinds_, keys);
}

}  // namespace petrel

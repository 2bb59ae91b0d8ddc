#include "sim/scenario.h"

#include <charconv>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "sim/state.h"

namespace modiommu::sim {

std::vector<ScenarioExtension>& scenario_extensions() {
  static std::vector<ScenarioExtension> ext;
  return ext;
}

Scenario::Scenario(Kernel& k, std::ostream& out) : k_(k), out_(out) {
  add_builtin_commands();
  for (auto& e : scenario_extensions()) e(*this);
}

void Scenario::add_command(const std::string& name, std::string usage, std::string help, Handler fn) {
  commands_[name] = Command{std::move(usage), std::move(help), std::move(fn), false};
}

void Scenario::add_expectation(const std::string& what, std::string usage, std::string help, Handler fn) {
  commands_["expect-" + what] = Command{std::move(usage), std::move(help), std::move(fn), true};
}

Scenario::Args Scenario::tokenize(const std::string& line) {
  Args out;
  std::string cur;
  bool in_quote = false;
  bool have = false;
  for (char c : line) {
    if (in_quote) {
      if (c == '"') in_quote = false;
      else cur += c;
      continue;
    }
    if (c == '#') break;
    if (c == '"') {
      in_quote = true;
      have = true;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      if (have) out.push_back(std::move(cur));
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(std::move(cur));
  return out;
}

Result<uint64_t> Scenario::parse_count(const std::string& text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty())
    return make_error(Errc::inval, "not a count: '" + text + "'");
  return v;
}

void Scenario::expect_failed(const std::string& what) {
  ++expect_failures_;
  out_ << "EXPECT FAILED" << (where_.empty() ? "" : " at " + where_) << ": " << what << "\n";
  k_.log().err("expect", "{}{}", where_.empty() ? "" : where_ + ": ", what);
}

Device* Scenario::device_arg(const std::string& name, Status& st) {
  auto d = k_.core().resolve_device(name);
  if (!d.ok()) {
    st = std::move(d).error();
    return nullptr;
  }
  return *d;
}

Status Scenario::run_line(const std::string& line) {
  if (line.size() > kMaxLineBytes)
    return make_error(Errc::range, fmt::format("line longer than {} bytes", kMaxLineBytes));
  return run_args(tokenize(line));
}

Status Scenario::run_args(const Args& a) {
  if (a.empty()) return {};
  auto it = commands_.find(a[0]);
  // Expectations run through `expect X ...` only.
  if (it == commands_.end() || it->second.expectation) return make_error(Errc::inval, "unknown command '" + a[0] + "' (try help)");
  Status s = it->second.fn(*this, a);
  k_.core().process();
  return s;
}

int Scenario::run_script(const std::string& text, const std::string& name, std::ostream& err) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    where_ = fmt::format("{}:{}", name, lineno);
    Status s = run_line(line);
    if (!s.ok()) {
      err << where_ << ": " << line << "\n" << where_ << ": error: " << s.error().str() << "\n";
      where_.clear();
      return 2;
    }
  }
  where_.clear();
  return expect_failures_ ? 1 : 0;
}

namespace {

Status need_args(const Scenario::Args& a, size_t n, const char* usage) {
  if (a.size() != n) return make_error(Errc::inval, std::string("usage: ") + usage);
  return {};
}

Result<double> parse_seconds(const std::string& s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !(v >= 0))
    return make_error(Errc::inval, "not a number of seconds: '" + s + "'");
  // A virtual year is plenty; beyond it the nanosecond count would overflow.
  if (v > 365.0 * 86400) return make_error(Errc::range, "advance of more than a year: '" + s + "'");
  return v;
}

using Args = Scenario::Args;

// help [COMMAND]
void add_help_command(Scenario& sc) {
  sc.add_command("help", "help [COMMAND]", "list commands, or show one command's usage", [](Scenario& s, const Args& a) -> Status {
    if (a.size() > 1) {
      auto it = s.commands().find(a[1]);
      if (it == s.commands().end()) return Status(make_error(Errc::noent, "no command '" + a[1] + "'"));
      s.out() << it->second.usage << "\n  " << it->second.help << "\n";
      return Status{};
    }
    for (auto& [n, c] : s.commands()) s.out() << fmt::format("  {:<44} {}\n", c.usage, c.help);
    return Status{};
  });
}

// sysfs bind / unbind
void add_driver_commands(Scenario& sc) {
  sc.add_command("bind", "bind DEVICE DRIVER", "probe DEVICE with DRIVER now (sysfs bind)", [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 3, "bind DEVICE DRIVER"));
    Status st;
    Device* d = s.device_arg(a[1], st);
    if (!d) return st;
    Driver* drv = s.kernel().core().find_driver(a[2]);
    if (!drv) return Status(make_error(Errc::noent, "no driver named '" + a[2] + "'"));
    return s.kernel().core().bind(*d, *drv);
  });
  sc.add_command("unbind", "unbind DEVICE", "unbind DEVICE from its driver, consumers first", [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 2, "unbind DEVICE"));
    Status st;
    Device* d = s.device_arg(a[1], st);
    if (!d) return st;
    return s.kernel().core().unbind(*d);
  });
}

// The boot phase and the virtual clock.
void add_time_commands(Scenario& sc) {
  sc.add_command("boot-complete", "boot-complete", "end of the initcall phase (late_initcall)", [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 1, "boot-complete"));
    s.kernel().boot_complete();
    return Status{};
  });
  sc.add_command("advance", "advance SECONDS", "move the virtual clock", [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 2, "advance SECONDS"));
    double secs = TRY(parse_seconds(a[1]));
    const VirtualClock::Nanos delta = seconds_to_nanos(secs), now = s.kernel().clock().now();
    // The clock stops short of kEndOfTime: that instant means "never".
    if (delta >= kEndOfTime - now)
      return Status(make_error(Errc::range, fmt::format("advance {}: the virtual clock would pass its end (about 584 years)", a[1])));
    s.kernel().clock().advance(delta);
    return Status{};
  });
}

// What the driver core shows: lsdev, links, deferred, dmesg.
void add_listing_commands(Scenario& sc) {
  sc.add_command("lsdev", "lsdev", "list devices: name, path, state, driver", [](Scenario& s, const Args&) -> Status {
    s.out() << format_lsdev(s.kernel());
    return Status{};
  });
  sc.add_command("links", "links", "list device links: consumer -> supplier", [](Scenario& s, const Args&) -> Status {
    s.out() << format_links(s.kernel());
    return Status{};
  });
  sc.add_command("deferred", "deferred", "deferred devices and why (devices_deferred)", [](Scenario& s, const Args&) -> Status {
    s.out() << format_deferred(s.kernel());
    return Status{};
  });
  sc.add_command("dmesg", "dmesg", "the kernel log", [](Scenario& s, const Args&) -> Status {
    for (auto& e : s.kernel().log().entries()) s.out() << e.format() << "\n";
    return Status{};
  });
}

// `expect X ...` dispatches to the expectation X; `expect-fail` wraps a command.
void add_expect_commands(Scenario& sc) {
  sc.add_command("expect", "expect device DEVICE state|driver VALUE | expect deferred DEVICE TEXT", "check a fact; a failed expect makes the run exit 1",
              [](Scenario& s, const Args& a) -> Status {
                if (a.size() < 2) return Status(make_error(Errc::inval, "usage: expect device|module|faults|escapes ..."));
                if (a[1] == "device") {
                  TRY(need_args(a, 5, "expect device DEVICE state|driver|iommu|domain VALUE"));
                  Status st;
                  Device* d = s.device_arg(a[2], st);
                  if (!d) return st;
                  const DeviceSnapshot ds = s.kernel().core().device_snapshot(*d);
                  std::string got;
                  if (a[3] == "state") {
                    if (a[4] != "bound" && a[4] != "deferred" && a[4] != "unbound" && a[4] != "failed")
                      return Status(make_error(Errc::inval, "state must be bound|deferred|unbound|failed, not '" + a[4] + "'"));
                    got = device_state_name(ds.state);
                  } else if (a[3] == "driver") {
                    got = ds.driver.empty() ? "none" : ds.driver;
                  } else {
                    auto it = s.commands().find("expect-" + a[3]);
                    if (it == s.commands().end())
                      return Status(make_error(Errc::inval, "unknown device property '" + a[3] + "'"));
                    return it->second.fn(s, a);
                  }
                  if (got != a[4])
                    s.expect_failed(fmt::format("device {} {} is '{}', expected '{}'{}", d->name(), a[3], got, a[4],
                                                ds.state == DeviceState::deferred ? " (deferred: " + ds.reason + ")" : ""));
                  return Status{};
                }
                auto it = s.commands().find("expect-" + a[1]);
                if (it == s.commands().end()) return Status(make_error(Errc::inval, "unknown expectation '" + a[1] + "'"));
                return it->second.fn(s, a);
              });
  sc.add_command("expect-fail", "expect-fail COMMAND...", "COMMAND must fail, cleanly", [](Scenario& s, const Args& a) -> Status {
    if (a.size() < 2) return Status(make_error(Errc::inval, "usage: expect-fail COMMAND..."));
    // The tokens as they were: re-joining would split quoted arguments.
    const Args inner_args(a.begin() + 1, a.end());
    std::string inner;
    for (size_t i = 1; i < a.size(); ++i) inner += (i > 1 ? " " : "") + a[i];
    const size_t before = s.expect_failures();
    Status r = s.run_args(inner_args);
    if (r.ok() && s.expect_failures() == before)
      s.expect_failed("'" + inner + "' succeeded, but it was expected to fail");
    else if (!r.ok())
      s.out() << "expected failure: " << r.error().str() << "\n";
    else
      s.forgive_expect_failures(before);
    return Status{};
  });
}

// The driver-core and IOMMU facts `expect` checks.
void add_core_expectations(Scenario& sc) {
  sc.add_expectation("deferred", "expect deferred DEVICE TEXT",
              "DEVICE is deferred and its reason contains TEXT (quote TEXT with spaces)", [](Scenario& s, const Args& a) -> Status {
                TRY(need_args(a, 4, "expect deferred DEVICE TEXT"));
                Status st;
                Device* d = s.device_arg(a[2], st);
                if (!d) return st;
                const DeviceSnapshot ds = s.kernel().core().device_snapshot(*d);
                if (ds.state != DeviceState::deferred)
                  s.expect_failed(fmt::format("device {} is {}, expected deferred", d->name(), device_state_name(ds.state)));
                else if (ds.reason.find(a[3]) == std::string::npos)
                  s.expect_failed(fmt::format("device {} deferred reason '{}' does not mention '{}'", d->name(),
                                              ds.reason, a[3]));
                return Status{};
              });
  // `expect device DEVICE iommu NAME|none` and `... domain TYPE|none`
  auto iommu_fact = [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 5, "expect device DEVICE iommu|domain VALUE"));
    Status st;
    Device* d = s.device_arg(a[2], st);
    if (!d) return st;
    auto info = s.kernel().iommu().info(*d);
    std::string got = "none";
    if (a[3] == "iommu") {
      if (info && !info->iommu.empty()) got = info->iommu;
    } else if (info && info->domain) {
      got = iommu::domain_type_name(*info->domain);
    }
    // An IOMMU may be named by device name, node name or path.
    bool same = got == a[4];
    if (!same && a[3] == "iommu" && got != "none") {
      Device* want = s.kernel().core().find_device(a[4]);
      same = want && want->name() == got;
    }
    if (!same) s.expect_failed(fmt::format("device {} {} is '{}', expected '{}'", d->name(), a[3], got, a[4]));
    return Status{};
  };
  sc.add_expectation("iommu", "expect device DEVICE iommu NAME|none", "which IOMMU the device is behind", iommu_fact);
  sc.add_expectation("domain", "expect device DEVICE domain TYPE|none",
              "its domain: dma, dma-lazy, identity, blocked, unmanaged", iommu_fact);
  sc.add_expectation("faults", "expect faults DEVICE N", "DMA faults seen for that device", [](Scenario& s, const Args& a) -> Status {
    TRY(need_args(a, 4, "expect faults DEVICE N"));
    Status st;
    Device* d = s.device_arg(a[2], st);
    if (!d) return st;
    const uint64_t want = TRY(Scenario::parse_count(a[3]));
    auto info = s.kernel().iommu().info(*d);
    const uint64_t got = info ? info->faults : 0;
    if (got != want) s.expect_failed(fmt::format("device {} saw {} DMA faults, expected {}", d->name(), got, want));
    return Status{};
  });
}

}  // namespace

void Scenario::add_builtin_commands() {
  add_help_command(*this);
  add_driver_commands(*this);
  add_time_commands(*this);
  add_listing_commands(*this);
  add_expect_commands(*this);
  add_core_expectations(*this);
}

}  // namespace modiommu::sim

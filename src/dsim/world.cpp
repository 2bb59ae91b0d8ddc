#include "dsim/world.h"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "base/fault_inject.h"
#include "base/file.h"
#include "core/pci.h"
#include "dsim/inflight.h"
#include "board/pci_model.h"
#include "module/alias.h"
#include "module/loader.h"
#include "of/dtc.h"
#include "of/tree.h"

namespace modiommu::dsim {
namespace {

// Faults a correct system survives cleanly (iommu.skip_consumer_unbind is a
// bug, not a fault, and is never chosen by an actor).
const std::vector<std::string>& survivable_faults() {
  static const std::vector<std::string> f = {"module.init", "module.unload", "mm.alloc",
                                             "smmuv3.probe", "dmatest.probe", "smmuv3.cmdq.stall",
                                             "smmuv3.evtq.overflow", "mmio.read.all_ones"};
  return f;
}

// The platform as a flattened blob, compiled once per path (exhaustive mode
// boots thousands of kernels; running dtc for each would dominate). Empty
// if it cannot be compiled: the kernel's own loader then reports why.
std::vector<uint8_t> platform_blob(const std::string& path) {
  static std::mutex lock;  // guards cache; docs/architecture.md "Locks"
  static std::map<std::string, std::vector<uint8_t>> cache;
  std::lock_guard g(lock);
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  std::vector<uint8_t> blob;
  // Not a file, or too big: boot() loads the path itself and says what is wrong.
  auto text = read_file_capped(path, 64u << 20);
  if (!text.ok()) return blob;
  std::vector<uint8_t> bytes(text->begin(), text->end());
  if (bytes.size() >= 4 && bytes[0] == 0xd0 && bytes[1] == 0x0d && bytes[2] == 0xfe && bytes[3] == 0xed) {
    blob = std::move(bytes);
  } else if (!bytes.empty()) {
    auto r = of::run_dtc({"-q", "-I", "dts", "-O", "dtb", path});
    if (r.ok() && r->exit_code == 0) blob = std::move(r->out);
  }
  if (!blob.empty()) cache[path] = blob;
  return blob;
}

}  // namespace

const std::vector<std::string>& actor_kinds() {
  static const std::vector<std::string> k = {"modules", "bind", "dma", "clock", "hotplug", "faults"};
  return k;
}

Result<std::set<std::string>> parse_actors(const std::string& csv) {
  std::set<std::string> out;
  size_t pos = 0;
  while (pos <= csv.size()) {
    size_t comma = csv.find(',', pos);
    std::string a = csv.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (a == "all") {
      out.insert(actor_kinds().begin(), actor_kinds().end());
    } else if (std::find(actor_kinds().begin(), actor_kinds().end(), a) == actor_kinds().end()) {
      return make_error(Errc::inval, fmt::format("unknown actor '{}' (actors: {}, all)", a, fmt::join(actor_kinds(), ",")));
    } else {
      out.insert(a);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<World>> World::boot(const WorldConfig& cfg) {
  FaultInjection::disarm_all();  // a fresh world starts with nothing armed
  std::unique_ptr<World> w(new World(cfg));
  w->k_ = std::make_unique<Kernel>(cfg.kernel);
  w->harness_ = std::make_unique<sim::Harness>(*w->k_);  // before boot: --preload registers endpoints
  const auto blob = platform_blob(cfg.platform);
  auto tree = blob.empty() ? Result<std::unique_ptr<of::Tree>>(make_error(Errc::inval, "no blob"))
                           : of::Tree::from_blob(blob, cfg.platform);
  if (tree.ok()) TRY(w->k_->boot(std::move(tree).value()));
  else TRY(w->k_->boot(cfg.platform));
  w->harness_->check_table_walks();  // invariant freed-table
  w->k_->boot_complete();
  w->sc_ = std::make_unique<sim::Scenario>(*w->k_, w->out_);
  (void)InFlightTable::of(*w->k_);  // hook in before any step
  for (const auto& line : cfg.setup) {
    Status s = w->sc_->run_line(line);
    if (!s.ok()) return make_error(s.error().code, "setup line '" + line + "': " + s.error().str());
  }
  // The modules that can drive some device of this platform (loadable ones:
  // built-ins cannot be unloaded).
  std::set<std::string> mods;
  for (Device* d : w->k_->core().devices())
    for (const auto& c : d->compatible())
      for (auto& m : w->k_->modules().find_by_alias(of_modalias(c))) mods.insert(m);
  for (const auto& m : w->k_->modules().lsmod())
    if (m.builtin) mods.erase(m.name);
  w->modules_.assign(mods.begin(), mods.end());
  return w;
}

World::~World() {
  // Disarm first: the kernel's teardown unloads every module, and an armed
  // module.unload would refuse that (leaving the module's memory behind).
  FaultInjection::disarm_all();
  sc_.reset();
  harness_.reset();
  k_.reset();
}

Status World::step(const std::string& line) {
  out_.str("");
  return sc_->run_line(line);
}

std::vector<World::Proposal> World::proposals() {
  std::vector<Proposal> p;
  Kernel& k = *k_;
  auto on = [&](const char* a) { return cfg_.actors.count(a) != 0; };
  // Random mode: an actor that took something away puts it back before it
  // takes anything else (at most one module out, manual unbinds rebound
  // first), so the system spends its time mostly up, with DMA running,
  // rather than wandering in torn-down states. Exhaustive mode: every step.
  if (on("modules")) {
    std::vector<Proposal> load, unload;
    for (const auto& m : modules_) {
      auto mod = k.modules().find(m);
      if (mod && mod->state() == ModuleState::live) unload.push_back({"modules", "rmmod " + m});
      else load.push_back({"modules", "modprobe " + m});
    }
    if (!cfg_.small && !load.empty()) unload.clear();
    p.insert(p.end(), load.begin(), load.end());
    p.insert(p.end(), unload.begin(), unload.end());
  }
  auto table = InFlightTable::of(k);
  std::vector<Device*> devs = k.core().devices();
  if (on("bind")) {
    const CoreSnapshot cs = k.core().snapshot();
    const auto& drivers = cs.drivers;
    bool rebind_first = false;
    for (const DeviceSnapshot& d : cs.devices)
      rebind_first = rebind_first || (!cfg_.small && d.manual_unbind && d.state == DeviceState::unbound);
    for (const DeviceSnapshot& ds : cs.devices) {
      const Device* d = ds.dev.get();
      if (ds.state == DeviceState::bound) {
        if (!rebind_first) p.push_back({"bind", "unbind " + d->name()});
      } else if (ds.state == DeviceState::unbound && ds.manual_unbind) {
        for (const Driver* drv : drivers) {
          bool match = drv->bus == d->bus();
          bool compat = false;
          for (const auto& c : d->compatible())
            compat = compat || std::count(drv->of_match.begin(), drv->of_match.end(), c);
          if (match && compat) {
            p.push_back({"bind", "bind " + d->name() + " " + drv->name});
            break;
          }
        }
      }
    }
  }
  if (on("dma")) {
    size_t masters = 0;
    std::vector<Device*> eps = harness_->endpoint_devices();
    for (Device* d : devs) {
      const bool ep = std::count(eps.begin(), eps.end(), d) != 0;
      if (table->in_flight(*d)) {
        // The device moves page after page until done (or faulted); then
        // its driver ends the transfer.
        // An actor of its own (enabled with "dma"): the device moving its
        // held transfer on.
        if (table->finished(*d)) p.push_back({"dma-inflight", "dma-end " + d->name()});
        else p.push_back({"dma-inflight", "dma-step " + d->name()});
      } else if (ep && (!cfg_.small || masters < 2)) {
        // Exhaustive mode: master 0 holds transfers in flight, master 1
        // does single transfers; random mode: both kinds everywhere.
        if (!cfg_.small || masters == 0) p.push_back({"dma", "dma-begin " + d->name() + (cfg_.small ? " write 8K" : " write 16K")});
        if (!cfg_.small || masters == 1) p.push_back({"dma", "dma " + d->name() + " write 8K"});
        if (!cfg_.small) p.push_back({"dma", "dma " + d->name() + " read 4K"});
      }
      if (ep) ++masters;
    }
  }
  if (on("hotplug") && k.has_platform()) {
    // One free slot per PCI host bridge (device 0x1f on the root bus), and
    // one on the secondary bus of a PCIe-to-PCI bridge (aliases): a DMA
    // test function comes and goes there, under DMA from the others. Random
    // mode puts a removed function back before removing another.
    auto hosts = k.platform().pci_hosts();
    std::vector<Proposal> add, remove;
    for (size_t h = 0; h < hosts.size(); ++h) {
      std::vector<uint16_t> slots = {static_cast<uint16_t>(hosts[h]->ecam().bus_first() << 8 | 0x1f << 3)};
      for (const auto& [rid, f] : hosts[h]->functions())
        if (f.kind == "pcie-to-pci-bridge") {
          slots.push_back(static_cast<uint16_t>(f.fn->config_read(modiommu::uapi::pci::SECONDARY_BUS, 1) << 8 | 0x1f << 3));
          break;
        }
      for (uint16_t rid : slots) {
        const std::string bdf = pci_bdf(static_cast<uint16_t>(h), uint8_t(rid >> 8), uint8_t(rid));
        if (hosts[h]->function(rid)) remove.push_back({"hotplug", "hotplug remove " + bdf});
        else add.push_back({"hotplug", "hotplug add " + bdf + " dmatest"});
      }
    }
    if (!cfg_.small && !add.empty()) remove.clear();
    p.insert(p.end(), add.begin(), add.end());
    p.insert(p.end(), remove.begin(), remove.end());
  }
  if (on("clock")) p.push_back({"clock", "advance 1"});
  if (on("faults"))
    for (const auto& f : survivable_faults())
      if (FaultInjection::pending(f) == 0) p.push_back({"faults", "inject " + f + " 1"});
  return p;
}

std::string World::state_key() {
  Kernel& k = *k_;
  std::string s;
  auto table = InFlightTable::of(k);
  {
    const CoreSnapshot cs = k.core().snapshot();
    for (const DeviceSnapshot& d : cs.devices) {
      s += d.name() + "=" + device_state_name(d.state);
      if (!d.driver.empty()) s += ":" + d.driver;
      if (d.manual_unbind) s += ":m";
      if (auto info = k.iommu().info(*d.dev)) s += ":" + info->iommu + (info->domain ? "+" : "");
      s += ":" + table->describe(*d.dev) + ";";
    }
    for (const auto& l : cs.links) s += fmt::format("{}>{}:{};", l.consumer->name(), l.supplier->name(), static_cast<int>(l.state));
  }
  for (const auto& m : k.modules().lsmod()) s += m.name + "=" + module_state_name(m.state) + ";";
  for (const auto& f : FaultInjection::known())
    if (uint64_t n = FaultInjection::pending(f.name)) s += fmt::format("{}={};", f.name, n);
  return s;
}

}  // namespace modiommu::dsim

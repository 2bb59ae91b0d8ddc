#include "report/explain.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "module/loader.h"
#include "report/iommu_kinds.h"

namespace modiommu::report {
namespace {

class Explainer {
 public:
  explicit Explainer(Kernel& k) : k_(k), snap_(k.core().snapshot(true)) {}

  void visit(const Device& dev, int depth) {
    const DeviceSnapshot* ds = snap_.find(&dev);
    if (!ds) return;
    const DeviceSnapshot& d = *ds;
    const std::string pad(static_cast<size_t>(depth) * 2, ' ');
    if (!seen_.insert(&dev).second) {
      line(pad + d.name() + ": (already explained above: a cycle or a shared supplier)");
      return;
    }
    if (depth > 16) {
      line(pad + "... (chain too deep)");
      return;
    }
    switch (d.state) {
      case DeviceState::bound: bound(d, pad); break;
      case DeviceState::deferred: deferred(d, depth, pad); break;
      case DeviceState::failed: failed(d, pad); break;
      case DeviceState::unbound: unbound(d, pad); break;
    }
  }

  Explanation take() { return std::move(e_); }

 private:
  void line(std::string s) { e_.chain.push_back(std::move(s)); }
  void suggest(std::string s) {
    if (std::find(e_.unblock.begin(), e_.unblock.end(), s) == e_.unblock.end()) e_.unblock.push_back(std::move(s));
  }

  // A module in the index that provides a driver for `d`, loaded or not.
  std::string module_for(const Device& d) {
    if (!d.bus()) return "";
    for (const auto& alias : d.bus()->modaliases(d)) {
      auto names = k_.modules().find_by_alias(alias);
      if (!names.empty()) return names.front();
    }
    return "";
  }

  void bound(const DeviceSnapshot& d, const std::string& pad) {
    line(fmt::format("{}{}: bound to driver {}", pad, d.name(), d.driver.empty() ? "?" : d.driver));
    auto info = k_.iommu().info(*d.dev);
    if (!info) return;
    if (info->bypass_fallback) {
      const of::Node* n = info->fallback_iommu;
      line(fmt::format("{}  running WITHOUT isolation: its IOMMU {} can never be driven (--missing-iommu=bypass)",
                       pad, n ? n->path() : "?"));
      if (n) no_driver_for_iommu(*n, pad + "  ");
    } else if (!info->left_out.empty()) {
      line(fmt::format("{}  no IOMMU: left out by its IOMMU driver's policy ({}); DMA untranslated", pad,
                       info->left_out));
    } else if (!info->iommu.empty()) {
      line(fmt::format("{}  behind IOMMU {} (stream IDs {}), group {}, {} domain", pad, info->iommu,
                       fmt::join(info->stream_ids, ","), info->group,
                       info->domain ? iommu::domain_type_name(*info->domain) : "no"));
    }
  }

  void no_driver_for_iommu(const of::Node& n, const std::string& pad) {
    const IommuKind* kind = iommu_kind(n);
    const std::string compat = n.compatible().empty() ? "?" : n.compatible().front();
    Device* idev = k_.iommu().iommu_device(&n);
    std::string mod = idev ? module_for(*idev) : "";
    if (!mod.empty()) {
      line(fmt::format("{}module {} can drive {} ({})", pad, mod, idev->name(), compat));
      suggest("modprobe " + mod);
    } else {
      line(fmt::format("{}no driver in modiommu for {} ({}; Linux: {})", pad, compat, kind ? kind->family : "unknown kind",
                       kind ? kind->linux_driver : "?"));
      suggest(fmt::format("write or load a driver for \"{}\"", compat));
    }
  }

  void deferred(const DeviceSnapshot& d, int depth, const std::string& pad) {
    line(fmt::format("{}{}: deferred: {}", pad, d.name(), d.reason));
    std::set<const void*> shown;
    for (const auto& w : d.waits) {
      switch (w.kind) {
        case WaitKey::Kind::device: {
          if (!shown.insert(w.ptr).second) break;
          auto* s = static_cast<const Device*>(w.ptr);
          if (!snap_.find(s)) {
            line(pad + "  waits for a device that was removed");
            break;
          }
          line(fmt::format("{}  waits for {} to bind:", pad, s->name()));
          visit(*s, depth + 2);
          break;
        }
        case WaitKey::Kind::fwnode: {
          auto* n = static_cast<const of::Node*>(w.ptr);
          Device* s = k_.iommu().iommu_device(n);  // the provider (a virtio-iommu, not its transport)
          if (s && shown.count(s)) break;
          if (!shown.insert(s ? static_cast<const void*>(s) : n).second) break;
          if (!s) {
            line(fmt::format("{}  waits for node {} to register, which has no device", pad, n->path()));
            break;
          }
          line(fmt::format("{}  waits for {} to register as an IOMMU:", pad, s->name()));
          visit(*s, depth + 2);
          break;
        }
        case WaitKey::Kind::event:
          line(fmt::format("{}  waits for the event {}", pad, wait_event_name(w.ev)));
          if (w.ev == WaitEvent::boot_complete || w.ev == WaitEvent::sources_final)
            suggest("boot-complete (module sources become final; what can never arrive is decided)");
          break;
        case WaitKey::Kind::any_bind: line(pad + "  retried whenever any device binds"); break;
      }
    }
  }

  void failed(const DeviceSnapshot& d, const std::string& pad) {
    line(fmt::format("{}{}: failed: {}", pad, d.name(), d.reason));
    if (d.dev->fwnode() && d.state == DeviceState::failed) {
      auto refs = of::iommu_refs(*d.dev->fwnode());
      if (refs.ok())
        if (const auto* pa = of::first_enabled(*refs); pa && !k_.iommu().find_iommu(pa->target)) {
          no_driver_for_iommu(*pa->target, pad + "  ");
          if (k_.iommu().policy().missing == iommu::MissingIommu::fail)
            suggest("or accept running without isolation: --missing-iommu=bypass");
        }
    }
    suggest(fmt::format("then bind {} again (bind {} DRIVER)", d.name(), d.name()));
  }

  void unbound(const DeviceSnapshot& d, const std::string& pad) {
    line(fmt::format("{}{}: unbound: {}", pad, d.name(), d.availability));
    if (d.manual_unbind) {
      suggest(fmt::format("bind {} DRIVER", d.name()));
      return;
    }
    const std::string mod = module_for(*d.dev);
    if (!mod.empty()) {
      auto m = k_.modules().find(mod);
      if (!m) {
        suggest("modprobe " + mod);
        if (k_.modules().blacklisted(mod)) line(fmt::format("{}  module {} is blacklisted for autoload", pad, mod));
        else if (!k_.modules().autoload()) line(pad + "  autoload is off (--no-autoload)");
      }
      return;
    }
    if (d.dev->compatible().empty()) line(pad + "  it has no compatible string: nothing can match it");
    else line(fmt::format("{}  no driver or module matches {}", pad, fmt::join(d.dev->compatible(), ", ")));
  }

  Kernel& k_;
  CoreSnapshot snap_;  // the devices as they were when asked
  std::set<const Device*> seen_;
  Explanation e_;
};

}  // namespace

Explanation explain_device(Kernel& k, const Device& dev) {
  Explainer x(k);
  x.visit(dev, 0);
  return x.take();
}

std::string format_explanation(const Explanation& e) {
  std::string out;
  for (const auto& l : e.chain) out += l + "\n";
  if (e.unblock.empty()) return out;
  out += "to unblock:\n";
  for (const auto& u : e.unblock) out += "  " + u + "\n";
  return out;
}

}  // namespace modiommu::report

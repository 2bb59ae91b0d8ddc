#include "dsim/explore.h"

#include <map>
#include <memory>

namespace modiommu::dsim {
namespace {

struct Explorer {
  const WorldConfig& cfg;
  unsigned depth;
  uint64_t max_states;
  ExploreResult r;
  std::map<std::string, unsigned> seen;  // state key -> shallowest depth it was expanded at

  // A world in the state `path` leads to.
  Result<std::unique_ptr<World>> make(const std::vector<TraceStep>& path) {
    auto w = TRY(World::boot(cfg));
    ++r.boots;
    for (const auto& t : path) {
      (void)w->step(t.line);
      ++r.transitions;
    }
    return w;
  }

  // `w` is in the state `path` leads to; returns false to stop everything.
  Result<bool> visit(std::unique_ptr<World> w, std::vector<TraceStep>& path) {
    const std::string key = w->state_key();
    auto it = seen.find(key);
    if (it != seen.end() && it->second <= path.size()) {
      ++r.pruned;
      return true;
    }
    if (it == seen.end()) ++r.states;
    seen[key] = static_cast<unsigned>(path.size());
    auto v = w->check();
    if (!v.empty()) {
      r.violations = std::move(v);
      r.trace = path;
      return false;
    }
    if (path.size() >= depth) return true;
    if (r.states >= max_states) {
      r.complete = false;
      return false;
    }
    const auto props = w->proposals();
    for (size_t i = 0; i < props.size(); ++i) {
      // The first child continues in this world; the others start from a
      // replay of the path.
      std::unique_ptr<World> cw = i == 0 ? std::move(w) : TRY(make(path));
      Status s = cw->step(props[i].line);
      ++r.transitions;
      path.push_back({props[i].line, s.ok()});
      const bool go_on = TRY(visit(std::move(cw), path));
      path.pop_back();
      if (!go_on) return false;
    }
    return true;
  }
};

}  // namespace

Result<ExploreResult> explore(const WorldConfig& cfg, unsigned depth, uint64_t max_states) {
  Explorer e{cfg, depth, max_states, {}, {}};
  std::vector<TraceStep> path;
  auto w = TRY(e.make(path));
  TRY(e.visit(std::move(w), path));
  return e.r;
}

}  // namespace modiommu::dsim

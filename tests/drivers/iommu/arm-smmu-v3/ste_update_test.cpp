// Hitless STE and CD updates (IHI 0070 3.21.3; Linux's arm-smmu-v3 KUnit
// tests check the same): every 64-bit store the driver makes while an entry
// is live leaves an entry the SMMU reads as the old or the new
// configuration, never a mixture and never an illegal entry. A break through
// V=0 (the stream aborts meanwhile) is allowed only where no single store
// can switch: more than one word whose used bits change.
#include <optional>
#include <tuple>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "hw/smmuv3/smmuv3.h"
#include "iommu/iommu_core.h"
#include "smmu_kernel.h"

namespace modiommu::smmutest {
namespace {

using arm_smmu_v3::Entry;
using iommu::DomainType;
using Model = hw::smmuv3::SmmuV3;

// What the emulated SMMU reads in an STE (its own decoding, 5.2): nullopt
// for an STE it rejects (C_BAD_STE, or V=0).
using SteMeaning = std::tuple<unsigned, bool, bool, uint64_t, uint16_t, unsigned, uint64_t, bool>;
std::optional<SteMeaning> meaning(const Entry& e, const hw::smmuv3::Features& f = {}) {
  Model::StreamConfig sc;
  uint64_t cd = 0;
  if (Model::decode_ste(e.data(), f, &sc, &cd) != 0) return std::nullopt;
  return SteMeaning{sc.config, sc.s1, sc.s2, sc.s1 ? cd : 0, sc.vmid, sc.s2cfg.input_bits, sc.s2cfg.ttb,
                    sc.s1_bypass_no_ssid};
}

// Every state an update went through, and whether a sync separated it from
// the previous store.
struct Step {
  Entry state;
  bool synced_before = false;
};

// Checks a recorded update: each state means `from` or `to`, the meaning
// switches once, and a V=0 state appears only when `may_break`.
void expect_hitless(const Entry& from, const Entry& to, const std::vector<Step>& steps, bool may_break,
                    const std::string& what) {
  SCOPED_TRACE(what);
  const auto old_m = meaning(from), new_m = meaning(to);
  ASSERT_TRUE(old_m.has_value());
  ASSERT_TRUE(new_m.has_value());
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back().state, to);
  bool switched = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto m = meaning(steps[i].state);
    if (!m) {
      EXPECT_TRUE(may_break) << "store " << i << " left an STE the SMMU rejects";
      EXPECT_FALSE(switched) << "store " << i << " broke the STE after it had switched";
      continue;
    }
    if (m == old_m && !switched) continue;
    EXPECT_EQ(m, new_m) << "store " << i << " left an STE that is neither the old nor the new configuration";
    // The SMMU must have seen every earlier store before the switching one.
    if (!switched && i > 0) {
      EXPECT_TRUE(steps[i].synced_before) << "store " << i << " switched without a sync";
    }
    switched = true;
  }
  if (old_m != new_m) {
    EXPECT_TRUE(switched);
  }
}

// --- the algorithm on its own, against STEs this driver never builds --------------

class RecordingWriter final : public arm_smmu_v3::EntryWriter {
 public:
  RecordingWriter(const Entry& cur, bool cd) : cur_(cur), cd_(cd) {}
  Entry used(const Entry& e) const override { return cd_ ? arm_smmu_v3::cd_used(e) : arm_smmu_v3::ste_used(e); }
  Status store(unsigned i, uint64_t value) override {
    cur_[i] = value;
    steps.push_back({cur_, pending_sync_});
    pending_sync_ = false;
    return {};
  }
  Status sync() override {
    pending_sync_ = true;
    ++syncs;
    return {};
  }
  std::vector<Step> steps;
  unsigned syncs = 0;

 private:
  Entry cur_;
  bool cd_;
  bool pending_sync_ = false;
};

// Stage 2 through tables at ttb for VMID vmid (5.2 words 2 and 3), built
// with the model's field definitions: the driver itself has no stage 2.
Entry ste_s2(uint16_t vmid, uint64_t ttb) {
  namespace m = hw::smmuv3;
  Entry e{};
  e[0] = m::ste0::V::mask | m::ste0::Config::prep(m::STE_CFG_S2);
  e[1] = arm_smmu_v3::STE1_VALUE;
  // 40-bit IPA (T0SZ 24), 4K granule starting at level 1 (SL0 1), 40-bit PA.
  e[2] = m::ste2::S2VMID::prep(vmid) | m::ste2::S2T0SZ::prep(24) | m::ste2::S2SL0::prep(1) | m::ste2::S2TG::prep(0) |
         m::ste2::S2PS::prep(2) | m::ste2::S2AA64::mask | m::ste2::S2R::mask;
  e[3] = ttb & m::ste3::S2TTB::mask;
  return e;
}

Entry write(const Entry& from, const Entry& to, RecordingWriter* w) {
  EXPECT_TRUE(arm_smmu_v3::write_entry(*w, from, to).ok());
  return w->steps.empty() ? from : w->steps.back().state;
}

TEST(SmmuV3SteUpdate, EveryTransitionBetweenConfigurations) {
  using namespace arm_smmu_v3;
  const uint64_t cd_a = 0x4000'1000, cd_b = 0x4000'2000;
  struct Named {
    const char* name;
    Entry e;
    bool s2;
  };
  const std::vector<Named> all = {
      {"abort", ste_abort(), false},        {"bypass", ste_bypass(), false},
      {"s1 cd A", ste_s1(cd_a), false},     {"s1 cd B", ste_s1(cd_b), false},
      {"s2 vmid 1", ste_s2(1, 0x5000'0000), true}, {"s2 vmid 2", ste_s2(2, 0x6000'0000), true},
  };
  for (const Named& from : all)
    for (const Named& to : all) {
      RecordingWriter w(from.e, false);
      write(from.e, to.e, &w);
      // Only stage 2 to another stage 2 changes used bits in two words (VMID
      // in word 2, S2TTB in word 3). Every other pair has one: words that
      // the current STE ignores (stage 2's words 2-3 under abort, bypass or
      // stage 1) are filled first, then word 0 switches.
      const bool needs_break = from.s2 && to.s2 && from.e != to.e;
      expect_hitless(from.e, to.e, w.steps.empty() ? std::vector<Step>{{from.e, false}} : w.steps, needs_break,
                     std::string(from.name) + " -> " + to.name);
      if (from.e == to.e) {
        EXPECT_EQ(w.syncs, 0u);  // nothing stored, nothing to tell the SMMU
      }
    }
}

TEST(SmmuV3SteUpdate, TheDriversOwnSwitchesAreOneStoreOfWordZero) {
  using namespace arm_smmu_v3;
  const std::vector<Entry> all = {ste_abort(), ste_bypass(), ste_s1(0x4000'1000), ste_s1(0x4000'2000)};
  for (const Entry& from : all)
    for (const Entry& to : all) {
      if (from == to) continue;
      RecordingWriter w(from, false);
      write(from, to, &w);
      ASSERT_EQ(w.steps.size(), 1u);
      EXPECT_EQ(w.syncs, 1u);
    }
}

// CDs by their used bits (5.4): a state is the old CD where the old CD's
// used bits are concerned, or the new one where the new one's are.
TEST(SmmuV3CdUpdate, LiveCdChangesAreHitlessOrBreakThroughV0) {
  using namespace arm_smmu_v3;
  CdConfig a;
  a.asid = 1;
  a.ttb0 = 0x4000'0000;
  a.mair = 0x44ff04;
  a.t0sz = 16;
  a.ips = 5;
  CdConfig asid_only = a, new_tables = a;
  asid_only.asid = 2;        // word 0 only: one store
  new_tables.asid = 3;       // word 0 and TTB0 in word 1: break
  new_tables.ttb0 = 0x4100'0000;
  auto same = [](const Entry& s, const Entry& e) {
    const Entry u = cd_used(e);
    for (unsigned i = 0; i < kEntryWords; ++i)
      if ((s[i] ^ e[i]) & u[i]) return false;
    return true;
  };
  struct Case {
    Entry from, to;
    bool may_break;
    const char* what;
  };
  const std::vector<Case> cases = {
      {Entry{}, cd_s1(a), false, "fresh CD"},
      {cd_s1(a), cd_s1(asid_only), false, "ASID change"},
      {cd_s1(a), cd_s1(new_tables), true, "ASID and tables"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RecordingWriter w(c.from, true);
    write(c.from, c.to, &w);
    ASSERT_FALSE(w.steps.empty());
    EXPECT_EQ(w.steps.back().state, c.to);
    bool switched = false;
    for (const Step& s : w.steps) {
      const bool valid = cd0::V::is_set(s.state[0]);
      if (!valid) {
        EXPECT_TRUE(c.may_break || !cd0::V::is_set(c.from[0]));
        continue;
      }
      if (!switched && cd0::V::is_set(c.from[0]) && same(s.state, c.from)) continue;
      EXPECT_TRUE(same(s.state, c.to)) << "a CD that is neither the old nor the new one";
      switched = true;
    }
  }
}

// --- the live driver: every store to the STE of a master during real domain
// switches (blocked, identity, two translating domains with their own CDs
// and ASIDs, its default DMA domain), seen through the memory it is in ------

uint64_t ste_address(SmmuKernel& s, uint32_t sid) {
  namespace d = arm_smmu_v3;
  IoMem io = s.regs(s.smmu());
  const uint64_t base = io.readq(d::STRTAB_BASE) & d::strtab_base::ADDR::mask;
  const uint32_t cfg = io.readl(d::STRTAB_BASE_CFG);
  if (d::strtab_cfg::FMT::get(cfg) != d::STRTAB_FMT_2LVL) return base + uint64_t{sid} * d::kSteBytes;
  const unsigned split = d::strtab_cfg::SPLIT::get(cfg);
  auto l1 = s.mem().read64(base + uint64_t{sid >> split} * d::kL1DescBytes);
  EXPECT_TRUE(l1.ok());
  if (!l1.ok()) return 0;
  return (*l1 & d::l1std::L2PTR::mask) + uint64_t{sid & ((1u << split) - 1)} * d::kSteBytes;
}

TEST(SmmuV3SteUpdate, LiveDomainSwitchesAreHitlessStoreByStore) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  auto* smmu = s.smmu()->drvdata<arm_smmu_v3::SmmuDevice>();
  ASSERT_NE(smmu, nullptr);
  Device* m = s.masters().at(0);
  iommu::DeviceIommu* di = s.k.iommu().device_iommu(*m);
  ASSERT_NE(di, nullptr);
  ASSERT_EQ(di->fwspec.ids.size(), 1u);
  iommu::IommuDomain* def = s.k.iommu().device_domain(*m);
  ASSERT_NE(def, nullptr);
  const uint64_t ste = ste_address(s, di->fwspec.ids[0]);

  auto blocked = smmu->domain_alloc(DomainType::blocked);
  auto identity = smmu->domain_alloc(DomainType::identity);
  auto a = smmu->domain_alloc(DomainType::unmanaged);
  auto b = smmu->domain_alloc(DomainType::unmanaged);
  ASSERT_TRUE(blocked.ok() && identity.ok() && a.ok() && b.ok());
  struct Target {
    const char* name;
    iommu::IommuDomain* d;
  };
  const std::vector<Target> path = {
      {"identity", identity->get()}, {"blocked", blocked->get()}, {"A", a->get()},       {"B", b->get()},
      {"identity", identity->get()}, {"A", a->get()},             {"blocked", blocked->get()},
      {"B", b->get()},               {"A", a->get()},             {"default", def},
  };

  std::mutex mu;
  std::vector<Step> steps;
  const uint64_t syncs_before = smmu->cmdq().syncs();
  uint64_t last_syncs = syncs_before;
  auto read_ste = [&] {
    Entry e;
    EXPECT_TRUE(s.mem().read(ste, e.data(), sizeof e).ok());
    return e;
  };
  s.mem().set_store64_observer([&](uint64_t pa, uint64_t) {
    if (pa < ste || pa >= ste + arm_smmu_v3::kSteBytes) return;
    std::lock_guard g(mu);
    const uint64_t now = smmu->cmdq().syncs();
    steps.push_back({read_ste(), now != last_syncs});
    last_syncs = now;
  });
  const char* prev = "default";
  for (const Target& t : path) {
    const Entry before = read_ste();
    {
      std::lock_guard g(mu);
      steps.clear();
      last_syncs = smmu->cmdq().syncs();
    }
    ASSERT_TRUE(smmu->attach_dev(*t.d, *m, di->fwspec).ok()) << t.name;
    const Entry after = read_ste();
    std::lock_guard g(mu);
    EXPECT_EQ(after, static_cast<arm_smmu_v3::SmmuDomain*>(t.d)->ste());
    expect_hitless(before, after, steps, false, std::string(prev) + " -> " + t.name);
    // The SMMU was told: CMD_CFGI_STE + CMD_SYNC after the last store.
    EXPECT_GT(smmu->cmdq().syncs(), last_syncs) << t.name;
    prev = t.name;
  }
  s.mem().set_store64_observer(nullptr);
  EXPECT_GT(smmu->cmdq().syncs(), syncs_before);
  // Back on its default domain: DMA through the DMA API still works.
  const uint64_t pa = s.filled_page(5);
  auto iova = s.k.dma().map_single(*m, pa, 4096, iommu::DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.read_from(m, *iova, 4096), DmaTest::kStatusDone);
}

}  // namespace
}  // namespace modiommu::smmutest

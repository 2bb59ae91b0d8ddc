// The event queue (IHI 0070 7.2-7.4) and global errors (6.3.18, 7.1), both
// serviced from their wired interrupts. Event records become fault reports
// to the IOMMU core, made after Evtq's lock is dropped (the core takes its
// own lock). The gerror handler also repairs a command the SMMU refused.
#include <vector>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {
namespace {

const char* event_name(uint8_t type) {
  switch (type) {
    case EVT_F_UUT: return "F_UUT";
    case EVT_C_BAD_STREAMID: return "C_BAD_STREAMID";
    case EVT_F_STE_FETCH: return "F_STE_FETCH";
    case EVT_C_BAD_STE: return "C_BAD_STE";
    case EVT_F_STREAM_DISABLED: return "F_STREAM_DISABLED";
    case EVT_C_BAD_SUBSTREAMID: return "C_BAD_SUBSTREAMID";
    case EVT_F_CD_FETCH: return "F_CD_FETCH";
    case EVT_C_BAD_CD: return "C_BAD_CD";
    case EVT_F_WALK_EABT: return "F_WALK_EABT";
    case EVT_F_TRANSLATION: return "F_TRANSLATION";
    case EVT_F_ADDR_SIZE: return "F_ADDR_SIZE";
    case EVT_F_ACCESS: return "F_ACCESS";
    case EVT_F_PERMISSION: return "F_PERMISSION";
    case EVT_F_TLB_CONFLICT: return "F_TLB_CONFLICT";
    case EVT_F_CFG_CONFLICT: return "F_CFG_CONFLICT";
    default: return "UNKNOWN_EVENT";
  }
}

const char* cmdq_err_name(uint32_t e) {
  switch (e) {
    case CMDQ_ERR_NONE: return "CERROR_NONE";
    case CMDQ_ERR_ILL: return "CERROR_ILL";
    case CMDQ_ERR_ABT: return "CERROR_ABT";
    case CMDQ_ERR_ATC_INV_SYNC: return "CERROR_ATC_INV_SYNC";
    default: return "CERROR_reserved";
  }
}

}  // namespace

Status SmmuDevice::evtq_init() {
  evtq_log2_ = std::min(feat_.evtq_log2, 7u);
  const size_t bytes = size_t{kEvtBytes} << evtq_log2_;
  evtq_pa_ = TRY(ctx_.pages().alloc(bytes, std::max<size_t>(bytes, 4096)));
  evtq_cons_ = 0;
  return {};
}

void SmmuDevice::handle_events() {
  std::vector<iommu::FaultInfo> faults;
  bool overflow = false;
  {
    std::lock_guard g(evtq_lock_);
    if (!live() || !evtq_pa_) return;
    const uint32_t qmask = (2u << evtq_log2_) - 1, imask = (1u << evtq_log2_) - 1;
    const uint32_t prod = regs_.readl(EVTQ_PROD);
    uint32_t cons = evtq_cons_ & qmask;
    // 3.5: entries between CONS and PROD (index + wrap bit); at most one
    // queue's worth, so a hostile PROD cannot keep us here.
    for (uint32_t n = 0; (cons & qmask) != (prod & qmask) && n <= imask; ++n) {
      uint64_t w[4];
      if (!ctx_.ram().read(*evtq_pa_ + uint64_t{cons & imask} * kEvtBytes, w, sizeof w).ok()) break;
      iommu::FaultInfo f;
      const uint8_t type = static_cast<uint8_t>(evt::TYPE::get(w[0]));
      f.stream_id = static_cast<uint32_t>(evt::SID::get(w[0]));
      f.write = !evt::RNW::is_set(w[1]);  // RnW: 1 = read
      f.iova = w[2];
      f.reason = event_name(type);
      faults.push_back(std::move(f));
      cons = (cons + 1) & qmask;
    }
    // 7.4: PROD.OVFLG differing from our OVACKFLG means records were lost;
    // acknowledge by copying it.
    overflow = ((prod ^ evtq_cons_) & Q_OVF) != 0;
    evtq_cons_ = cons | (prod & Q_OVF);
    regs_.writel(EVTQ_CONS, evtq_cons_);
  }
  if (overflow) ctx_.log().warn(name(), "event queue overflow: events lost");
  for (const auto& f : faults) ctx_.iommu().report_fault(inst_, f);
}

// 6.3.18: an error is active while GERROR and GERRORN differ in its bit;
// writing GERRORN to match acknowledges it.
void SmmuDevice::handle_gerror() {
  // Raised again by our own GERRORN write: the loop below sees it.
  if (gerror_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id()) return;
  std::lock_guard g(gerror_lock_);
  gerror_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  struct Leave {
    std::atomic<std::thread::id>& t;
    ~Leave() { t.store(std::thread::id{}, std::memory_order_relaxed); }
  } leave{gerror_thread_};
  if (!regs_.valid()) return;
  for (int round = 0; round < 8; ++round) {
    const uint32_t gerror = regs_.readl(GERROR), gerrorn = regs_.readl(GERRORN);
    const uint32_t active = (gerror ^ gerrorn) & GERROR_ALL;
    if (!active) return;
    if (active & GERROR_SFM) ctx_.log().err(name(), "GERROR: service failure mode: the SMMU has stopped translating");
    if (active & GERROR_EVTQ_ABT) ctx_.log().err(name(), "GERROR: event queue write aborted");
    if (active & (GERROR_MSI_CMDQ_ABT | GERROR_MSI_EVTQ_ABT | GERROR_MSI_PRIQ_ABT | GERROR_MSI_GERROR_ABT))
      ctx_.log().err(name(), "GERROR: MSI write aborted ({:#x})", active);
    if (active & GERROR_CMDQ_ERR) {
      // 7.1: CONS points at the refused command. Only this handler touches
      // that slot while the queue is stopped (the producer never rewrites
      // an unconsumed slot), so it is fixed without the producer's lock.
      const uint32_t cons = regs_.readl(CMDQ_CONS);
      const uint32_t err = CMDQ_CONS_ERR::get(cons);
      const uint64_t slot = cmdq_.slot_pa(cons);
      auto& mem = ctx_.ram();
      uint64_t w[2] = {0, 0};
      (void)mem.read(slot, w, sizeof w);
      ctx_.log().err(name(), "CMDQ error {} at index {:#x}: command {:#018x} {:#018x}", cmdq_err_name(err),
                   cons & ((2u << cmdq_.log2()) - 1), w[0], w[1]);
      if (err == CMDQ_ERR_ILL) {
        // Skip it as Linux does: a CMD_SYNC in its place, then resume.
        const Cmd s = cmd_sync();
        (void)mem.write64(slot + 8, s.w[1]);
        (void)mem.write64(slot, s.w[0]);
      }
      // CERROR_ABT / ATC_INV_SYNC: retried as they are when the queue resumes.
    }
    regs_.writel(GERRORN, gerrorn ^ active);
  }
  ctx_.log().err(name(), "GERROR keeps re-asserting: giving up for now");
}

}  // namespace modiommu::arm_smmu_v3

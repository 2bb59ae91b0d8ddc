// SMMUv3 event queue: record format and producer side (IHI 0070 7.2-7.4).
#include <algorithm>
#include <mutex>

#include "base/fault_inject.h"
#include "hw/smmuv3/internal.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {

using namespace detail;

void SmmuV3::record(const EventRecord& e) {
  unsigned irqs = 0;
  {
    std::lock_guard g(evtq_lock_);
    if (!eventq_en_.load(std::memory_order_acquire)) {
      events_lost_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const unsigned log2 =
        std::min<unsigned>(static_cast<unsigned>(q_base::LOG2SIZE::get(eventq_base_)), feat_.eventq_log2);
    const uint32_t qmask = (2u << log2) - 1, imask = (1u << log2) - 1;
    const uint32_t prod = eventq_prod_ & qmask, cons = eventq_cons_ & qmask;
    // Fault point: behave as if the queue were full (7.4 overflow).
    if (((prod & imask) == (cons & imask) && prod != cons) || fault_point("smmuv3.evtq.overflow")) {
      // Full (7.4): the event is lost and PROD.OVFLG toggled to differ from
      // CONS.OVACKFLG, once per overflow episode.
      events_lost_.fetch_add(1, std::memory_order_relaxed);
      if (!((eventq_prod_ ^ eventq_cons_) & Q_OVFLG)) eventq_prod_ ^= Q_OVFLG;
      return;
    }
    uint64_t w[4] = {};
    w[0] = evt0::TYPE::prep(e.type) | evt0::SID::prep(e.sid);
    w[1] = evt1::RNW::prep(e.rnw) | evt1::S2::prep(e.s2) | evt1::CLASS::prep_masked(e.cls);
    w[2] = e.input;
    if (e.type == F_STE_FETCH || e.type == F_CD_FETCH || e.type == F_WALK_EABT)
      w[3] = e.fetch & evt3::FETCH_ADDR::mask;
    else if (e.s2)
      w[3] = e.ipa & evt3::IPA::mask;
    const uint64_t slot = (eventq_base_ & q_base::ADDR::mask) + uint64_t{prod & imask} * kEventBytes;
    if (!mem_.write(slot, w, sizeof w)) {
      // 6.3.18: the write of an event record aborted.
      events_lost_.fetch_add(1, std::memory_order_relaxed);
      gerror_raise(GERROR_EVENTQ_ABT_ERR, irqs);
    } else {
      eventq_prod_ = (eventq_prod_ & Q_OVFLG) | ((prod + 1) & qmask);
      events_.fetch_add(1, std::memory_order_relaxed);
      if (irq_ctrl_mirror_.load(std::memory_order_acquire) & IRQ_EVENTQ) irqs |= 1;
    }
  }
  fire(irqs);
}

void SmmuV3::record_walk_fault(uint32_t sid, const WalkResult& r, Access access, bool stage2, bool after_s1,
                               uint64_t ipa) {
  EventRecord e;
  e.sid = sid;
  e.type = fault_event(r.fault);
  e.rnw = access == Access::read;
  e.input = r.fault_ipa_or_va;
  if (r.stage2_on_table) {
    // Stage 2 fault while fetching a stage-1 table: S2=1, CLASS=TT, IPA of
    // the table (7.3.12).
    e.s2 = true;
    e.cls = CLASS_TT;
    e.ipa = r.table_ipa;
  } else {
    e.s2 = stage2;
    e.cls = r.fault == Fault::external ? CLASS_TT : CLASS_IN;
    e.ipa = stage2 ? (after_s1 ? ipa : r.fault_ipa_or_va) : 0;
  }
  if (r.fault == Fault::external) e.fetch = r.fetch_pa;
  record(e);
}

}  // namespace modiommu::hw::smmuv3

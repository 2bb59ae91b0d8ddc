// The command queue (IHI 0070 3.5 queues, chapter 4 commands): a circular
// buffer in RAM the driver produces into (CMDQ_PROD) and the SMMU consumes
// from (CMDQ_CONS). Locking: Cmdq::lock_ guards the producer index and the
// slots not yet consumed; it is held across a CMD_SYNC wait so completion is
// simply "CONS caught up with our PROD".
#include <thread>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {

Cmd cmd_cfgi_ste(uint32_t sid) {  // 4.3.1: SID [63:32], Leaf [0] of word 1
  Cmd c;
  c.w[0] = CMD_CFGI_STE | cmd::SID::prep(sid);
  c.w[1] = cmd::LEAF::mask;
  return c;
}

Cmd cmd_cfgi_all() {  // 4.3.2: CFGI_STE_RANGE with Range = 31 is CFGI_ALL
  Cmd c;
  c.w[0] = CMD_CFGI_STE_RANGE;
  c.w[1] = cmd::RANGE::prep(31);
  return c;
}

Cmd cmd_tlbi_nh_asid(uint16_t asid) {  // 4.4.2: VMID [47:32] (0), ASID [63:48]
  Cmd c;
  c.w[0] = CMD_TLBI_NH_ASID | cmd::ASID::prep(asid);
  return c;
}

Cmd cmd_tlbi_nh_va(uint16_t asid, uint64_t iova, bool leaf) {  // 4.4.3: Address [63:12], Leaf [0]
  Cmd c;
  c.w[0] = CMD_TLBI_NH_VA | cmd::ASID::prep(asid);
  c.w[1] = (iova & cmd::ADDR::mask) | (leaf ? cmd::LEAF::mask : 0);
  return c;
}

Cmd cmd_tlbi_el2_all() {
  Cmd c;
  c.w[0] = CMD_TLBI_EL2_ALL;
  return c;
}

Cmd cmd_tlbi_nsnh_all() {
  Cmd c;
  c.w[0] = CMD_TLBI_NSNH_ALL;
  return c;
}

Cmd cmd_sync() {  // 4.7.3: CS [13:12] = SIG_NONE: completion is seen by polling CONS
  Cmd c;
  c.w[0] = CMD_SYNC;
  return c;
}

Status Cmdq::init(unsigned log2) {
  log2_ = log2;
  const size_t bytes = std::max<size_t>(size_t{kCmdBytes} << log2, 32);
  // 6.3.25: the base is aligned to the queue size.
  base_ = TRY(smmu_.ctx().pages().alloc(bytes, std::max<size_t>(bytes, 4096)));
  prod_ = 0;
  return {};
}

void Cmdq::free() {
  if (base_) (void)smmu_.ctx().pages().free(*base_);
  base_.reset();
}

void Cmdq::stop() {
  std::lock_guard g(lock_);
  stopped_ = true;
}

uint64_t Cmdq::base_reg() const {
  return q_base::RWA::mask | (*base_ & q_base::ADDR::mask) | q_base::LOG2SIZE::prep(log2_);
}

bool Cmdq::consumed(uint32_t target, uint32_t cons) const {
  const uint32_t mask = (2u << log2_) - 1;
  return (cons & mask) == (target & mask);
}

// 3.5: full when the indexes match and the wrap bits differ.
Status Cmdq::wait_space_locked() {
  const uint32_t imask = (1u << log2_) - 1, qmask = (2u << log2_) - 1;
  for (unsigned i = 0; i < kPollIterations; ++i) {
    const uint32_t cons = smmu_.regs().readl(CMDQ_CONS) & qmask;
    if (!((cons & imask) == (prod_ & imask) && cons != prod_)) return {};
    if (i == 0) smmu_.regs().writel(CMDQ_PROD, prod_);  // let the SMMU drain what we queued
    if (i % 64 == 63) smmu_.handle_gerror();
    std::this_thread::yield();
  }
  smmu_.log().err(smmu_.name(), "command queue stays full (CONS {:#x}, PROD {:#x}): SMMU not consuming",
                  smmu_.regs().readl(CMDQ_CONS), prod_);
  return make_error(Errc::timedout, smmu_.name() + ": command queue full and not draining");
}

Status Cmdq::push_locked(const Cmd& c) {
  TRY(wait_space_locked());
  hw::PhysicalMemory& mem = smmu_.ctx().ram();
  const uint64_t slot = slot_pa(prod_);
  TRY(mem.write64(slot, c.w[0]));
  TRY(mem.write64(slot + 8, c.w[1]));
  prod_ = (prod_ + 1) & ((2u << log2_) - 1);
  commands_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Status Cmdq::issue_sync(const std::vector<Cmd>& cmds) {
  std::lock_guard g(lock_);
  // EIO, never ENODEV: in a probe ENODEV would read as "not my device" and
  // the failure would pass in silence.
  if (stopped_) return make_error(Errc::io, smmu_.name() + ": command queue is stopped");
  if (!base_) return make_error(Errc::io, smmu_.name() + ": command queue not allocated");
  for (const Cmd& c : cmds) TRY(push_locked(c));
  TRY(push_locked(cmd_sync()));
  // Slots are written before PROD moves: the SMMU reads only published slots.
  smmu_.regs().writel(CMDQ_PROD, prod_);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    const uint32_t cons = smmu_.regs().readl(CMDQ_CONS);
    if (consumed(prod_, cons)) return {};
    // 7.1: a command error stops the queue until GERROR.CMDQ_ERR is acked;
    // normally the gerror IRQ has fixed it already, this covers no IRQ.
    if (i % 16 == 15) smmu_.handle_gerror();
    std::this_thread::yield();
  }
  smmu_.log().err(smmu_.name(), "CMD_SYNC timeout: CONS {:#x}, PROD {:#x}", smmu_.regs().readl(CMDQ_CONS), prod_);
  return make_error(Errc::timedout, smmu_.name() + ": CMD_SYNC not completed");
}

}  // namespace modiommu::arm_smmu_v3

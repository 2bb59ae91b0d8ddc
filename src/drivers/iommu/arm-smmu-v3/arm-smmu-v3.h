// The arm-smmu-v3 driver's internal types (struct arm_smmu_device,
// arm_smmu_master, arm_smmu_domain in Linux). Nothing here is exported: the
// driver is reached only through the Driver and IommuOps it registers.
//
// Lock order (outer first), stated once for every file of the driver:
//   SmmuDevice::ste_lock_   stream table contents, level-2 allocation, each
//                           master's current domain, domains' attach counts.
//   Cmdq::lock_             the command queue producer (PROD, slots).
//   SmmuDevice::gerror_lock_  GERROR handling. Acking GERRORN can resume the
//                           queue and re-raise GERROR in the same thread: that
//                           nested interrupt returns at once (the handler's
//                           loop re-reads GERROR), it never re-takes the lock.
//                           Never takes Cmdq::lock_.
// These ranks sit below the IOMMU core's in docs/architecture.md "Locks".
//   Evtq::lock_             the event queue consumer; released before faults
//                           are reported to the IOMMU core.
//   asid_lock_              the ASID allocator (leaf).
// DMA threads never take a driver lock on the translation path; they only
// enter the event/gerror handlers through interrupts.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "core/log.h"
#include "drivers/iommu/arm-smmu-v3/regs.h"
#include "drivers/iommu/arm-smmu-v3/ste.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::arm_smmu_v3 {

class SmmuDevice;

// Bounded polls: hardware that never answers is an error, not a hang.
inline constexpr unsigned kPollIterations = 200000;

// What IDR0/IDR1/IDR5 say (6.3.1, 6.3.2, 6.3.6).
struct Features {
  bool s1 = false, s2 = false, two_level = false, hyp = false, coherent = false, asid16 = false;
  unsigned sid_bits = 0;
  unsigned cmdq_log2 = 0, evtq_log2 = 0;  // hardware maxima
  unsigned oas = 48;
  bool gran4k = false, gran16k = false, gran64k = false;
};

// One command: two 64-bit words (chapter 4).
struct Cmd {
  uint64_t w[2] = {0, 0};
};
Cmd cmd_cfgi_ste(uint32_t sid);
Cmd cmd_cfgi_all();
Cmd cmd_tlbi_nh_asid(uint16_t asid);
Cmd cmd_tlbi_nh_va(uint16_t asid, uint64_t iova, bool leaf);
Cmd cmd_tlbi_el2_all();
Cmd cmd_tlbi_nsnh_all();
Cmd cmd_sync();

// STRTAB_BASE_CFG (6.3.24) for a linear or two-level table of 2^log2 STEs.
uint32_t strtab_cfg_value(bool two_level, unsigned log2);

// The command queue (3.5, 4). Producer side under lock_; completion by
// CMD_SYNC and polling CONS past it.
class Cmdq {
 public:
  Cmdq(SmmuDevice& smmu) : smmu_(smmu) {}
  Status init(unsigned log2);  // allocates the ring; the caller programs it
  void free();
  // No command is accepted after this (the SMMU is being disabled).
  void stop();
  uint64_t base_reg() const;
  // Appends the commands, then a CMD_SYNC, and waits for the SYNC to be
  // consumed. ETIMEDOUT (logged) if the SMMU never gets there.
  Status issue_sync(const std::vector<Cmd>& cmds);
  Status issue_sync(const Cmd& c) { return issue_sync(std::vector<Cmd>{c}); }
  // Counters for tests and benchmarks.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t commands() const { return commands_.load(std::memory_order_relaxed); }
  // After init(): the ring exists.
  uint64_t slot_pa(uint32_t idx) const { return *base_ + uint64_t{idx & ((1u << log2_) - 1)} * kCmdBytes; }
  unsigned log2() const { return log2_; }

 private:
  Status push_locked(const Cmd& c);
  Status wait_space_locked();
  bool consumed(uint32_t target, uint32_t cons) const;

  SmmuDevice& smmu_;
  std::mutex lock_;  // guards prod_ and the ring's unconsumed slots; docs/architecture.md "Locks"
  // Every physical address below is optional, not 0 for "none": RAM may
  // start at PA 0 (hip07-d05), so 0 is a real address.
  std::optional<uint64_t> base_;
  unsigned log2_ = 0;
  uint32_t prod_ = 0;  // index + wrap bit
  bool stopped_ = false;
  std::atomic<uint64_t> syncs_{0}, commands_{0};
};

// A consumer master (arm_smmu_master): its stream IDs and current domain.
struct SmmuMaster {
  Device* dev = nullptr;
  std::vector<uint32_t> sids;
  class SmmuDomain* domain = nullptr;  // ste_lock_
};

class SmmuDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  SmmuDomain(iommu::DomainType t, std::shared_ptr<SmmuDevice> smmu);
  ~SmmuDomain() override;
  // Paging domains: io-pgtable, ASID and the CD the STEs point at.
  Status finalise();

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  // IommuFlushOps for io-pgtable.
  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  // The STE that points a stream at this domain (5.2).
  Entry ste() const;
  uint16_t asid() const { return asid_; }
  const SmmuDevice* smmu() const { return smmu_.get(); }
  std::optional<uint64_t> cd_pa() const { return cd_pa_; }
  unsigned attached = 0;  // masters pointing at it, SmmuDevice::ste_lock_

 private:
  void invalidate_range(uint64_t start, uint64_t end, size_t granule, bool leaf);
  // The one writer of this domain's CD (5.4), hitless as write_ste.
  Status write_cd(const Entry& target);

  std::shared_ptr<SmmuDevice> smmu_;
  std::unique_ptr<iommu::IoPgtable> pgtbl_;
  uint16_t asid_ = 0;
  std::optional<uint64_t> cd_pa_;  // paging domains, from finalise()
};

// One SMMU (arm_smmu_device). Shared: domains keep it alive after the SMMU
// device is unbound (then `live()` is false and they touch no hardware).
class SmmuDevice : public iommu::IommuOps, public std::enable_shared_from_this<SmmuDevice> {
 public:
  SmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~SmmuDevice() override;

  Status probe();
  void remove();

  // IommuOps.
  Status of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) override;
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;

  // For domains.
  DriverContext& ctx() { return ctx_; }
  Log& log();
  const std::string& name() const;
  const Features& features() const { return feat_; }
  Cmdq& cmdq() { return cmdq_; }
  const IoMem& regs() const { return regs_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  Result<uint16_t> asid_alloc();
  void asid_free(uint16_t asid);
  // A domain is going away: point any master still using it at abort.
  void detach_all(SmmuDomain& d);
  // GERROR service (IRQ handler, and the command queue while it waits).
  void handle_gerror();
  // Event queue service (IRQ handler).
  void handle_events();

 private:
  Status read_features();
  Status write_reg_ack(uint64_t reg, uint64_t ack_reg, uint32_t val, const char* what);
  Status update_gbpa(uint32_t set, uint32_t clear);
  Status disable();
  Status strtab_init();
  Status evtq_init();
  Status reset();
  void free_tables();
  // Stream table (strtab.cpp).
  Result<uint64_t> ste_pa(uint32_t sid, bool alloc);
  Status init_l2(uint32_t l1_idx);
  // The one writer of STEs: moves the STEs of `sids` to `target` hitlessly
  // (ste.h). alloc: create missing level-2 tables, else skip their IDs.
  Status write_ste(const std::vector<uint32_t>& sids, const Entry& target, bool alloc);

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  IoMem regs_;
  Features feat_;
  Cmdq cmdq_{*this};
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  IrqHandle evtq_irq_, gerror_irq_;

  std::mutex ste_lock_;  // see the lock order at the top; docs/architecture.md "Locks"
  // Stream table (3.3): linear, or level 1 + on-demand level-2 tables.
  bool two_level_ = false;
  unsigned strtab_log2_ = 0;  // stream IDs covered
  std::optional<uint64_t> strtab_pa_;
  std::vector<std::optional<uint64_t>> l2_pa_;  // per level-1 slot, allocated on demand
  // Stream ID -> the masters using it (arm_smmu_streams, an rb-tree in
  // Linux): clash checks and releases look up their own IDs only. Several
  // masters share one ID only as PCI aliases within one group.
  std::map<uint32_t, std::vector<std::weak_ptr<SmmuMaster>>> streams_;
  // Every live master once (streams_ lists a master per ID), for the rare
  // whole-SMMU walks.
  std::vector<std::shared_ptr<SmmuMaster>> live_masters() const;

  std::mutex gerror_lock_;  // see the lock order at the top; docs/architecture.md "Locks"
  std::atomic<std::thread::id> gerror_thread_{};  // the thread in handle_gerror(), if any

  std::mutex evtq_lock_;  // docs/architecture.md "Locks"
  std::optional<uint64_t> evtq_pa_;
  unsigned evtq_log2_ = 0;
  uint32_t evtq_cons_ = 0;  // index + wrap + OVACKFLG as last written

  std::mutex asid_lock_;  // docs/architecture.md "Locks"
  std::vector<bool> asid_used_;
  uint32_t asid_next_ = 1;
};

}  // namespace modiommu::arm_smmu_v3

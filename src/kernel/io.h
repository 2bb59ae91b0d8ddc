// Drivers reach hardware only through these: ioremap'ed register windows
// (readl/writel/readq/writeq on the machine's MMIO bus) and interrupt lines
// (request_irq). No driver includes hw/ model headers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

namespace hw {
class MmioBus;
class IrqLine;
}  // namespace hw

// An ioremap()'ed register window.
class MODIOMMU_API IoMem {
 public:
  IoMem() = default;
  IoMem(hw::MmioBus* bus, uint64_t base, uint64_t size) : bus_(bus), base_(base), size_(size) {}
  uint8_t readb(uint64_t off) const;
  uint16_t readw(uint64_t off) const;
  void writeb(uint64_t off, uint8_t v) const;
  void writew(uint64_t off, uint16_t v) const;
  uint32_t readl(uint64_t off) const;
  void writel(uint64_t off, uint32_t v) const;
  uint64_t readq(uint64_t off) const;
  void writeq(uint64_t off, uint64_t v) const;
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  bool valid() const { return bus_ != nullptr; }

 private:
  hw::MmioBus* bus_ = nullptr;
  uint64_t base_ = 0;
  uint64_t size_ = 0;
};

// request_irq(): a handler on one interrupt line; freed with free().
class MODIOMMU_API IrqHandle {
 public:
  IrqHandle() = default;
  IrqHandle(hw::IrqLine* line, uint64_t id) : line_(line), id_(id) {}
  IrqHandle(IrqHandle&& o) noexcept : line_(o.line_), id_(o.id_) { o.line_ = nullptr; }
  IrqHandle& operator=(IrqHandle&& o) noexcept;
  ~IrqHandle() { free(); }
  // Waits for a running handler call, like free_irq().
  void free();

 private:
  hw::IrqLine* line_ = nullptr;
  uint64_t id_ = 0;
};

}  // namespace modiommu

#include "kernel/io.h"

#include "hw/irq.h"
#include "hw/mmio.h"

namespace modiommu {

uint8_t IoMem::readb(uint64_t off) const { return static_cast<uint8_t>(bus_->read(base_ + off, 1)); }
uint16_t IoMem::readw(uint64_t off) const { return static_cast<uint16_t>(bus_->read(base_ + off, 2)); }
void IoMem::writeb(uint64_t off, uint8_t v) const { bus_->write(base_ + off, v, 1); }
void IoMem::writew(uint64_t off, uint16_t v) const { bus_->write(base_ + off, v, 2); }
uint32_t IoMem::readl(uint64_t off) const { return static_cast<uint32_t>(bus_->read(base_ + off, 4)); }
void IoMem::writel(uint64_t off, uint32_t v) const { bus_->write(base_ + off, v, 4); }
uint64_t IoMem::readq(uint64_t off) const { return bus_->read(base_ + off, 8); }
void IoMem::writeq(uint64_t off, uint64_t v) const { bus_->write(base_ + off, v, 8); }

IrqHandle& IrqHandle::operator=(IrqHandle&& o) noexcept {
  if (this != &o) {
    free();
    line_ = o.line_;
    id_ = o.id_;
    o.line_ = nullptr;
  }
  return *this;
}

void IrqHandle::free() {
  if (line_) line_->remove_listener(id_);
  line_ = nullptr;
}

}  // namespace modiommu

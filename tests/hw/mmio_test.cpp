#include "hw/mmio.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "hw/irq.h"
#include "hw/machine.h"

namespace modiommu::hw {
namespace {

// A register file that remembers its last write and echoes offset+value.
class Scratch : public MmioDevice {
 public:
  explicit Scratch(std::string n) : n_(std::move(n)) {}
  uint64_t read(uint64_t offset, unsigned) override { return 0x1000 + offset + last_.load(); }
  void write(uint64_t, uint64_t value, unsigned) override { last_ = value; }
  std::string name() const override { return n_; }
  std::atomic<uint64_t> last_{0};

 private:
  std::string n_;
};

TEST(MmioBus, DispatchesByAddress) {
  MmioBus bus;
  auto a = std::make_shared<Scratch>("a"), b = std::make_shared<Scratch>("b");
  ASSERT_TRUE(bus.map(0x1000, 0x100, a).ok());
  ASSERT_TRUE(bus.map(0x2000, 0x100, b).ok());
  bus.write32(0x2008, 7);
  EXPECT_EQ(b->last_.load(), 7u);
  EXPECT_EQ(a->last_.load(), 0u);
  EXPECT_EQ(bus.read32(0x1010), 0x1010u);
  bus.write64(0x1000, 0x100000000ull);
  EXPECT_EQ(bus.read64(0x1008), 0x1000 + 8 + 0x100000000ull);
  EXPECT_EQ(bus.bus_error_count(), 0u);
}

TEST(MmioBus, OverlapRejectedNamingBoth) {
  MmioBus bus;
  ASSERT_TRUE(bus.map(0x1000, 0x1000, std::make_shared<Scratch>("uart")).ok());
  auto s = bus.map(0x1800, 0x1000, std::make_shared<Scratch>("smmu"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("uart"), std::string::npos);
  EXPECT_NE(s.error().message.find("smmu"), std::string::npos);
  EXPECT_FALSE(bus.map(0x0, 0, std::make_shared<Scratch>("z")).ok());
  EXPECT_FALSE(bus.map(~0ull - 4, 0x100, std::make_shared<Scratch>("w")).ok());
}

TEST(MmioBus, UnmappedAndMisalignedAreRecordedBusErrors) {
  MmioBus bus;
  ASSERT_TRUE(bus.map(0x1000, 0x100, std::make_shared<Scratch>("a")).ok());
  EXPECT_EQ(bus.read32(0x5000), 0xffffffffu);
  EXPECT_EQ(bus.bus_error_count(), 1u);
  auto e = bus.last_bus_error();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->addr, 0x5000u);
  EXPECT_EQ(e->size, 4u);
  EXPECT_FALSE(e->write);
  EXPECT_EQ(e->reason, "unmapped");

  bus.write64(0x1004, 1);
  EXPECT_EQ(bus.bus_error_count(), 2u);
  EXPECT_TRUE(bus.last_bus_error()->write);
  EXPECT_EQ(bus.last_bus_error()->reason, "misaligned");

  EXPECT_EQ(bus.read64(0x10f8 + 8), ~0ull);  // just past the end
  EXPECT_EQ(bus.read(0x1000, 3), ~0ull);
  EXPECT_EQ(bus.last_bus_error()->reason, "bad size");
  EXPECT_EQ(bus.bus_error_count(), 4u);
}

TEST(MmioBus, UnmapWhileAccessing) {
  MmioBus bus;
  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop) (void)bus.read32(0x1000);
  });
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(bus.map(0x1000, 0x100, std::make_shared<Scratch>("x")).ok());
    ASSERT_TRUE(bus.unmap(0x1000).ok());
  }
  stop = true;
  t.join();
  EXPECT_FALSE(bus.unmap(0x1000).ok());
}

TEST(Machine, OwnsDevicesAndIrqLines) {
  Machine m;
  ASSERT_TRUE(m.memory().add_ram(0x40000000, 1 << 20).ok());
  auto dev = std::make_shared<Scratch>("dev");
  ASSERT_TRUE(m.add_device(0x9000000, 0x1000, dev).ok());
  EXPECT_EQ(m.device_as<Scratch>(0x9000010), dev);
  int fired = 0;
  IrqLine& l = m.irq(42);
  EXPECT_EQ(&l, &m.irq(42));
  auto id = l.add_listener([&] { ++fired; });
  l.raise();
  l.raise();
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(l.count(), 2u);
  EXPECT_TRUE(l.remove_listener(id));
  EXPECT_FALSE(l.remove_listener(id));
  l.raise();
  EXPECT_EQ(fired, 2);
  ASSERT_TRUE(m.remove_device(0x9000000).ok());
  EXPECT_EQ(m.device_at(0x9000010), nullptr);
  EXPECT_EQ(m.bus().read32(0x9000010), 0xffffffffu);
}

}  // namespace
}  // namespace modiommu::hw

namespace modiommu::hw {
namespace {

TEST(IrqLine, RemoveWaitsForRunningHandler) {
  IrqLine line("l");
  std::atomic<int> calls{0};
  std::atomic<bool> stop{false};
  std::thread raiser([&] {
    while (!stop) line.raise();
  });
  for (int i = 0; i < 200; ++i) {
    auto state = std::make_unique<std::atomic<int>>(0);
    std::atomic<int>* p = state.get();
    auto id = line.add_listener([p, &calls] {
      ++*p;  // would be a use-after-free if remove returned early
      ++calls;
    });
    while (p->load() == 0) std::this_thread::yield();  // the handler has really run
    ASSERT_TRUE(line.remove_listener(id));
    state.reset();
  }
  stop = true;
  raiser.join();
  EXPECT_EQ(line.listener_count(), 0u);
  EXPECT_GE(calls.load(), 200);
  EXPECT_GE(line.count(), 200u);
}

}  // namespace
}  // namespace modiommu::hw

// The virtio core (bus, negotiation, split virtqueues) and the virtio-mmio
// transport driver, built in, against the emulated virtio-mmio transport
// and virtio-iommu device of platforms/virt-virtio-mmio-iommu.dts. A test
// driver for device ID 23 speaks raw virtio-iommu requests through the
// core's Virtqueue, so every check here is the core's doing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/device.h"
#include "drivers/virtio/virtio.h"
#include "kernel/kernel.h"
#include "test_paths.h"
#include "uapi/virtio_iommu.h"

namespace modiommu::virtio {
namespace {
namespace vi = uapi::viommu;
namespace uv = uapi::virtio;

std::string platform() {
  return ::modiommu::test_paths::source_dir() + "/platforms/virt-virtio-mmio-iommu.dts";
}

struct Probed {
  int probes = 0, removes = 0;
  uint64_t features = 0;
  uint8_t status_after_probe = 0;
  VirtioDevice* vdev = nullptr;
};

// Device ID 23; asks for MAP_UNMAP and PROBE only.
class TestDriver : public VirtioDriver {
 public:
  explicit TestDriver(Probed& p, bool fail = false) : p_(p), fail_(fail) {
    name = "viommu-test";
    id_table = {vi::kDeviceId};
    features = vi::kFMapUnmap | vi::kFProbe;
  }
  Status probe(VirtioDevice& vdev) override {
    ++p_.probes;
    if (fail_) return make_error(Errc::io, "told to fail");
    TRY(vdev.find_vqs({"request", "event"}, {nullptr, nullptr}, 8));
    p_.features = vdev.features();
    p_.vdev = &vdev;
    return {};
  }
  void remove(VirtioDevice& vdev) override {
    ++p_.removes;
    vdev.reset();
    vdev.del_vqs();
    p_.vdev = nullptr;
  }

 private:
  Probed& p_;
  bool fail_;
};

struct Booted {
  Kernel k;
  Probed probed;
  std::unique_ptr<TestDriver> drv;
  explicit Booted(bool register_driver = true, bool fail = false) {
    EXPECT_TRUE(k.boot(platform()).ok());
    if (register_driver) {
      drv = std::make_unique<TestDriver>(probed, fail);
      Status s = register_virtio_driver(k, *drv);
      EXPECT_TRUE(s.ok()) << s.error().str();
    }
    k.boot_complete();
  }
  ~Booted() {
    if (drv) unregister_virtio_driver(k, *drv);
  }
  Device* dev(const std::string& name) { return k.core().find_device(name); }
  VirtioDevice* vdev() { return dynamic_cast<VirtioDevice*>(dev("virtio0")); }
};

// One request: head + body readable, `wlen` bytes writable (ending with the
// tail). Returns the written bytes, or empty on failure.
std::vector<uint8_t> request(VirtioDevice& vdev, const std::vector<uint8_t>& req, uint32_t wlen, uint32_t* used_len) {
  auto buf = vdev.alloc_dma(4096);
  EXPECT_TRUE(buf.ok());
  if (!buf.ok()) return {};
  EXPECT_TRUE(vdev.mem_write(buf->pa, req.data(), req.size()).ok());
  Virtqueue* vq = vdev.vq(0);
  int token = 0;
  Status s = vq->add_sgs({{buf->dma, static_cast<uint32_t>(req.size())}}, {{buf->dma + 2048, wlen}}, &token);
  EXPECT_TRUE(s.ok()) << s.error().str();
  vq->kick();
  uint32_t len = 0;
  void* t = vq->get_buf(&len);  // the model completes inside the notify
  EXPECT_EQ(t, &token);
  std::vector<uint8_t> out(wlen);
  EXPECT_TRUE(vdev.mem_read(buf->pa + 2048, out.data(), wlen).ok());
  vdev.free_dma(*buf);
  if (used_len) *used_len = len;
  return t == &token ? out : std::vector<uint8_t>{};
}

template <class Body>
std::vector<uint8_t> encode(uint8_t type, const Body& body) {
  std::vector<uint8_t> v(sizeof(vi::ReqHead) + sizeof(Body), 0);
  v[0] = type;
  std::memcpy(v.data() + sizeof(vi::ReqHead), &body, sizeof(Body));
  return v;
}

TEST(VirtioCore, TransportRegistersTheDeviceOnTheVirtioBus) {
  Booted b(false);
  Device* transport = b.dev("a000000.virtio_mmio");
  ASSERT_NE(transport, nullptr);
  EXPECT_EQ(transport->state(), DeviceState::bound);
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->bus()->name(), "virtio");
  EXPECT_EQ(v->device_id(), 23u);
  EXPECT_EQ(v->parent(), transport);
  EXPECT_EQ(v->fwnode(), transport->fwnode());  // the iommus target is the transport's node
  EXPECT_EQ(v->bus()->modaliases(*v), std::vector<std::string>{"virtio:d00000017v4D4F4449"});
  // Registration acknowledged the device (3.1.1 step 2) and nothing more.
  EXPECT_EQ(v->config().get_status(), uv::kStatusAcknowledge);
  // The empty slot (DeviceID 0) is no device: its transport stays unbound.
  Device* empty = b.dev("a000200.virtio_mmio");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->state(), DeviceState::unbound);
  EXPECT_EQ(b.dev("virtio1"), nullptr);
  // The IOMMU core sees the virtio device, not its transport, as the IOMMU.
  EXPECT_EQ(b.k.iommu().iommu_device(transport->fwnode()), v);
}

TEST(VirtioCore, ProbeNegotiatesFeaturesAndSetsDriverOk) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->state(), DeviceState::bound);
  EXPECT_EQ(b.probed.probes, 1);
  // Offered & wanted, plus VERSION_1: no bit the driver did not ask for.
  EXPECT_EQ(b.probed.features, vi::kFMapUnmap | vi::kFProbe | uv::kFVersion1);
  EXPECT_EQ(v->config().get_status(),
            uv::kStatusAcknowledge | uv::kStatusDriver | uv::kStatusFeaturesOk | uv::kStatusDriverOk);
  ASSERT_NE(v->vq(0), nullptr);
  EXPECT_EQ(v->vq(0)->size(), 8u);
  EXPECT_EQ(v->vq(0)->num_free(), 8u);
}

TEST(VirtioCore, ConfigSpaceReadsTheDeviceConfig) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  vi::Config c{};
  ASSERT_TRUE(v->config_read_bytes(0, &c, sizeof c).ok());
  EXPECT_EQ(c.page_size_mask, 0xfffffffffffff000ull);
  EXPECT_EQ(c.input_end, (uint64_t{1} << 48) - 1);
  EXPECT_EQ(c.domain_end, 0xffffu);
  EXPECT_GT(c.probe_size, 0u);
}

TEST(VirtioCore, RequestsRoundTripThroughTheVirtqueue) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  // PROBE of a declared endpoint: OK, with the MSI reserved region.
  vi::ProbeBody pb{};
  pb.endpoint = 0x10;
  vi::Config c{};
  ASSERT_TRUE(v->config_read_bytes(0, &c, sizeof c).ok());
  uint32_t len = 0;
  auto out = request(*v, encode(vi::kReqProbe, pb), c.probe_size + sizeof(vi::ReqTail), &len);
  ASSERT_EQ(out.size(), c.probe_size + sizeof(vi::ReqTail));
  EXPECT_EQ(out[c.probe_size], vi::kSOk);
  vi::ProbeResvMem resv{};
  std::memcpy(&resv, out.data(), sizeof resv);
  EXPECT_EQ(resv.type, vi::kProbeTResvMem);
  EXPECT_EQ(resv.subtype, vi::kResvMemTMsi);
  EXPECT_EQ(v->vq(0)->num_free(), 8u);  // the chain came back
  // ATTACH of an endpoint that does not exist: NOENT.
  vi::AttachBody ab{};
  ab.domain = 1;
  ab.endpoint = 0x999;
  out = request(*v, encode(vi::kReqAttach, ab), sizeof(vi::ReqTail), &len);
  ASSERT_EQ(out.size(), sizeof(vi::ReqTail));
  EXPECT_EQ(out[0], vi::kSNoEnt);
  EXPECT_EQ(len, sizeof(vi::ReqTail));
}

TEST(VirtioCore, FullRingRefusesWithEnospcAndRecovers) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  Virtqueue* vq = v->vq(1);  // the event queue: buffers stay with the device
  ASSERT_NE(vq, nullptr);
  auto buf = v->alloc_dma(4096);
  ASSERT_TRUE(buf.ok());
  int tokens[8];
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(vq->add_sgs({}, {{buf->dma + 64ull * i, 64}}, &tokens[i]).ok());
  EXPECT_EQ(vq->num_free(), 0u);
  Status s = vq->add_sgs({}, {{buf->dma, 64}}, &tokens[0]);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::nospc);
  EXPECT_NE(s.error().message.find("event"), std::string::npos) << s.error().message;
  // Nothing was used yet.
  EXPECT_EQ(vq->get_buf(nullptr), nullptr);
  // A request needs buffers and a token.
  EXPECT_FALSE(v->vq(0)->add_sgs({}, {}, &tokens[0]).ok());
  EXPECT_FALSE(v->vq(0)->add_sgs({{buf->dma, 16}}, {}, nullptr).ok());
}

TEST(VirtioCore, HostileUsedRingBreaksTheQueueInsteadOfTrustingIt) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  Virtqueue* vq = v->vq(1);
  // A "device" that returns a chain the driver never made available.
  const uint64_t used = vq->addrs().used;
  const uint32_t elem[2] = {5, 16};
  ASSERT_TRUE(v->mem_write(used + 4, elem, sizeof elem).ok());
  const uint16_t idx = 1;
  ASSERT_TRUE(v->mem_write(used + 2, &idx, 2).ok());
  EXPECT_EQ(vq->get_buf(nullptr), nullptr);
  EXPECT_TRUE(vq->broken());
  EXPECT_NE(vq->broken_reason().find("never made available"), std::string::npos) << vq->broken_reason();
  int t = 0;
  Status s = vq->add_sgs({}, {{0x40000000, 16}}, &t);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io);
}

TEST(VirtioCore, UsedLengthBeyondTheBuffersBreaksTheQueue) {
  Booted b;
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  Virtqueue* vq = v->vq(1);
  auto buf = v->alloc_dma(4096);
  ASSERT_TRUE(buf.ok());
  int t = 0;
  ASSERT_TRUE(vq->add_sgs({}, {{buf->dma, 24}}, &t).ok());
  const uint64_t used = vq->addrs().used;
  const uint32_t elem[2] = {0, 4096};  // head 0, but 4096 bytes "written" into 24
  ASSERT_TRUE(v->mem_write(used + 4, elem, sizeof elem).ok());
  const uint16_t idx = 1;
  ASSERT_TRUE(v->mem_write(used + 2, &idx, 2).ok());
  EXPECT_EQ(vq->get_buf(nullptr), nullptr);
  EXPECT_TRUE(vq->broken());
  EXPECT_NE(vq->broken_reason().find("exceeds"), std::string::npos) << vq->broken_reason();
}

TEST(VirtioCore, FailedProbeLeavesTheDeviceFailedAndClean) {
  Booted b(true, true);
  VirtioDevice* v = b.vdev();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(b.probed.probes, 1);
  EXPECT_NE(v->state(), DeviceState::bound);
  // 2.1.1: FAILED set; no queue left live.
  EXPECT_TRUE(v->config().get_status() & uv::kStatusFailed);
  EXPECT_EQ(v->num_vqs(), 0u);
}

TEST(VirtioCore, TransportUnbindRemovesTheVirtioDeviceDriverFirst) {
  Booted b;
  Device* transport = b.dev("a000000.virtio_mmio");
  ASSERT_NE(transport, nullptr);
  ASSERT_NE(b.vdev(), nullptr);
  ASSERT_TRUE(b.k.core().unbind(*transport).ok());
  EXPECT_EQ(b.probed.removes, 1);
  EXPECT_EQ(b.vdev(), nullptr);
  // The device was reset on the way out.
  // Binding the transport again brings a new virtio device, probed afresh.
  ASSERT_TRUE(b.k.core().bind(*transport, *b.k.core().find_driver("virtio-mmio")).ok());
  ASSERT_NE(b.dev("virtio1"), nullptr);
  EXPECT_EQ(b.dev("virtio1")->state(), DeviceState::bound);
  EXPECT_EQ(b.probed.probes, 2);
}

TEST(VirtioCore, MastersWaitForTheVirtioDeviceAndNameIt) {
  KernelOptions o;
  o.generic_endpoints = true;
  Kernel k(o);
  ASSERT_TRUE(k.boot(platform()).ok());
  Device* m = k.core().find_device("10000000.dma");
  ASSERT_NE(m, nullptr);
  // Before boot-complete no driver for virtio0 is known to be impossible.
  EXPECT_EQ(m->state(), DeviceState::deferred);
  EXPECT_NE(k.core().reason(*m).find("virtio0"), std::string::npos) << k.core().reason(*m);
  k.boot_complete();
  // No driver for the virtio-iommu can appear (no module directory): the
  // decision is immediate, per --missing-iommu (bypass by default).
  EXPECT_EQ(m->state(), DeviceState::bound);
  auto di = k.iommu().device_iommu(*m);
  ASSERT_NE(di, nullptr);
  EXPECT_TRUE(di->bypass_fallback);
}

}  // namespace
}  // namespace modiommu::virtio

// A booted kernel's IOMMU topology for people: every IOMMU the tree
// describes (with or without a driver or device model here), every DMA
// master with what firmware says (decoded specifiers) beside what the IOMMU
// core actually did, so a mismatch is visible. Built from the driver core's
// snapshot and the IOMMU core's values; the result is a plain snapshot.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/api.h"
#include "kernel/kernel.h"

namespace modiommu::report {

struct IommuReport {
  std::string path;               // device-tree node path
  std::string device;             // driver-model device name, "" when none was populated
  std::vector<std::string> compatible;
  std::string kind;               // iommu_kind() family, "unknown" when not in the table
  bool enabled = true;            // status
  bool modelled = false;          // an emulated device model exists here
  bool registered = false;        // an IOMMU driver registered it with the IOMMU core
  std::string driver;             // bound driver, "" none
  std::string availability;       // why it is (not) driven, from the driver core
  size_t masters = 0;             // masters whose firmware names it
};

// What the tree says about one master's IOMMU (one specifier).
struct DeclaredRef {
  std::string iommu_path;
  std::string iommu_device;  // device name of that IOMMU node, "" none
  std::string kind;
  bool iommu_enabled = true;
  std::vector<uint32_t> cells;
  std::string decoded;
  bool decoded_ok = true;
};

enum class Outcome {
  isolated,      // bound, DMA translated by its IOMMU
  bypass,        // bound WITHOUT isolation (--missing-iommu=bypass fallback)
  not_behind,    // every IOMMU it names is disabled: not behind an IOMMU
  never_probes,  // failed, or deferred with nothing left to wait for
  waiting,       // deferred and something may still arrive
  unbound,       // no driver at all (no --generic-endpoints)
  disabled,      // the master's node is disabled (status): no device
  not_populated, // enabled, but no device was created for the node
  bad_binding,   // malformed iommus / mmu-masters
  left_out,      // bound, its IOMMU driver's policy declined it: DMA untranslated (reason says why)
};
MODIOMMU_API const char* outcome_name(Outcome o);

struct MasterReport {
  std::string path;
  std::string device;  // "" when not populated
  // How the device came to exist: "bus" (the boot-time walk, or PCI
  // enumeration) or the name of the parent device whose driver populated
  // it; "" when it does not exist.
  std::string populated_by;
  std::vector<std::string> compatible;
  std::string state;   // bound|deferred|unbound|failed|absent
  std::string driver;
  std::string reason;  // DriverCore::reason(), the same text lsdev/JSON/deferred show
  bool legacy = false; // named by a legacy mmu-masters list
  std::vector<DeclaredRef> declared;
  std::string binding_error;
  // Why the tree puts it behind no IOMMU, when that is not obvious (a PCI
  // function: "requester ID 0x0030 is outside the iommu-map of /pcie@10000000").
  std::string tree_note;
  // Actual, from the IOMMU core.
  std::string attached_iommu;
  std::vector<uint32_t> stream_ids;
  int group = -1;
  std::string domain;
  bool bypass = false;
  std::string left_out;  // its IOMMU driver's policy left it out: why ("ipmmu-vmsa: ...")
  bool mismatch = false;  // attached to another IOMMU than the first enabled one firmware names
  Outcome outcome = Outcome::unbound;
};

// A PCI host bridge whose RIDs map to an IOMMU through iommu-map.
struct IommuMapReport {
  std::string path;
  std::vector<std::string> entries;  // "RID 0x0-0xffff -> <iommu> ID 0x0"
  std::string error;
};

// The driver model device by device, as `graph` draws it (asked for with
// TopologyParts::devices; not in the JSON). Indexes refer to
// Topology::devices and Topology::iommus; -1 is none.
struct DeviceView {
  std::string name;
  std::string compatible;  // the first, "" none
  std::string bus;         // "none" without a bus
  DeviceState state = DeviceState::unbound;
  std::string driver, driver_module;
  std::string reason;  // deferred or failed
  bool bypass = false;  // bound without isolation (--missing-iommu=bypass)
  int iommu = -1;       // its node is this IOMMU node (a transport and its virtio device share one)
  int named_iommu = -1;  // the first enabled IOMMU its firmware names
  struct Ref {
    int provider = -1;        // the device standing for the IOMMU node
    std::string iommu_path;   // the IOMMU node
    bool iommu_enabled = true;
    std::string decoded;      // the specifier, decoded
  };
  std::vector<Ref> refs;  // every iommus / mmu-masters reference
};
struct LinkView {
  int consumer = -1, supplier = -1;
  LinkKind kind = LinkKind::managed;
  LinkState state = LinkState::dormant;
  std::string why;
};
struct GroupView {
  int id = 0;
  int iommu = -1;  // the IOMMU node of its instance
  std::string domain;  // attached domain type, "" none
  std::vector<int> members;  // in join order (-1: gone since the device list was taken)
};

struct Topology {
  std::string source;  // the tree's file
  std::vector<IommuReport> iommus;
  std::vector<MasterReport> masters;
  std::vector<IommuMapReport> iommu_maps;
  // TopologyParts::devices only.
  std::vector<DeviceView> devices;  // in add order
  std::vector<LinkView> links;      // in creation order
  std::vector<GroupView> groups;
};

enum class TopologyParts {
  masters,  // IOMMUs, masters, iommu-maps (check, topology)
  devices,  // and every device, link and group (graph)
};

MODIOMMU_API Topology extract_topology(Kernel& k, TopologyParts parts = TopologyParts::masters);
MODIOMMU_API nlohmann::json to_json(const Topology& t);

}  // namespace modiommu::report

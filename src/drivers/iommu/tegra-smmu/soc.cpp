// The SoC data the tegra-smmu driver programs from (soc.h): Linux keeps it in
// drivers/memory/tegra/tegra210.c and tegra124.c (tegra_mc_client,
// tegra_smmu_swgroup, tegra_smmu_group_soc); the model keeps its own copy.
// Clients without an SMMU enable bit (ptcr, mpcore*) are left out: they
// are never translated.
#include "drivers/iommu/tegra-smmu/soc.h"

#include <array>

namespace modiommu::tegra_smmu {
namespace {

// include/dt-bindings/memory/tegra210-mc.h
namespace t210 {
enum : uint8_t { DC = 1, DCB, AFI, AVPC, HDA, HC, NVENC, PPCS, SATA, MPCORE, ISP2, XUSB_HOST, XUSB_DEV, ISP2B, TSEC,
                 A9AVP, GPU, SDMMC1A, SDMMC2A, SDMMC3A, SDMMC4A, VIC, VI, NVDEC, APE, NVJPG, SE, AXIAP, ETR, TSECB };
constexpr McClient kClients[] = {
    {0x01, DC, 0x228, 1, false, "display0a"},      {0x02, DCB, 0x228, 2, false, "display0ab"},
    {0x03, DC, 0x228, 3, false, "display0b"},      {0x04, DCB, 0x228, 4, false, "display0bb"},
    {0x05, DC, 0x228, 5, false, "display0c"},      {0x06, DCB, 0x228, 6, false, "display0cb"},
    {0x0e, AFI, 0x228, 14, false, "afir"},         {0x0f, AVPC, 0x228, 15, false, "avpcarm7r"},
    {0x10, DC, 0x228, 16, false, "displayhc"},     {0x11, DCB, 0x228, 17, false, "displayhcb"},
    {0x15, HDA, 0x228, 21, false, "hdar"},         {0x16, HC, 0x228, 22, false, "host1xdmar"},
    {0x17, HC, 0x228, 23, false, "host1xr"},       {0x1c, NVENC, 0x228, 28, false, "nvencsrd"},
    {0x1d, PPCS, 0x228, 29, false, "ppcsahbdmar"}, {0x1e, PPCS, 0x228, 30, false, "ppcsahbslvr"},
    {0x1f, SATA, 0x228, 31, false, "satar"},       {0x2b, NVENC, 0x22c, 11, true, "nvencswr"},
    {0x31, AFI, 0x22c, 17, true, "afiw"},          {0x32, AVPC, 0x22c, 18, true, "avpcarm7w"},
    {0x35, HDA, 0x22c, 21, true, "hdaw"},          {0x36, HC, 0x22c, 22, true, "host1xw"},
    {0x3b, PPCS, 0x22c, 27, true, "ppcsahbdmaw"},  {0x3c, PPCS, 0x22c, 28, true, "ppcsahbslvw"},
    {0x3d, SATA, 0x22c, 29, true, "sataw"},        {0x44, ISP2, 0x230, 4, false, "ispra"},
    {0x46, ISP2, 0x230, 6, true, "ispwa"},         {0x47, ISP2, 0x230, 7, true, "ispwb"},
    {0x4a, XUSB_HOST, 0x230, 10, false, "xusb_hostr"}, {0x4b, XUSB_HOST, 0x230, 11, true, "xusb_hostw"},
    {0x4c, XUSB_DEV, 0x230, 12, false, "xusb_devr"},   {0x4d, XUSB_DEV, 0x230, 13, true, "xusb_devw"},
    {0x4e, ISP2B, 0x230, 14, false, "isprab"},     {0x50, ISP2B, 0x230, 16, true, "ispwab"},
    {0x51, ISP2B, 0x230, 17, true, "ispwbb"},      {0x54, TSEC, 0x230, 20, false, "tsecsrd"},
    {0x55, TSEC, 0x230, 21, true, "tsecswr"},      {0x56, A9AVP, 0x230, 22, false, "a9avpscr"},
    {0x57, A9AVP, 0x230, 23, true, "a9avpscw"},    {0x58, GPU, 0x230, 24, false, "gpusrd"},
    {0x59, GPU, 0x230, 25, true, "gpuswr"},        {0x5a, DC, 0x230, 26, false, "displayt"},
    {0x60, SDMMC1A, 0x234, 0, false, "sdmmcra"},   {0x61, SDMMC2A, 0x234, 1, false, "sdmmcraa"},
    {0x62, SDMMC3A, 0x234, 2, false, "sdmmcr"},    {0x63, SDMMC4A, 0x234, 3, false, "sdmmcrab"},
    {0x64, SDMMC1A, 0x234, 4, true, "sdmmcwa"},    {0x65, SDMMC2A, 0x234, 5, true, "sdmmcwaa"},
    {0x66, SDMMC3A, 0x234, 6, true, "sdmmcw"},     {0x67, SDMMC4A, 0x234, 7, true, "sdmmcwab"},
    {0x6c, VIC, 0x234, 12, false, "vicsrd"},       {0x6d, VIC, 0x234, 13, true, "vicswr"},
    {0x72, VI, 0x234, 18, true, "viw"},            {0x73, DC, 0x234, 19, false, "displayd"},
    {0x78, NVDEC, 0x234, 24, false, "nvdecsrd"},   {0x79, NVDEC, 0x234, 25, true, "nvdecswr"},
    {0x7a, APE, 0x234, 26, false, "aper"},         {0x7b, APE, 0x234, 27, true, "apew"},
    {0x7e, NVJPG, 0x234, 30, false, "nvjpgsrd"},   {0x7f, NVJPG, 0x234, 31, true, "nvjpgswr"},
    {0x80, SE, 0xb98, 0, false, "sesrd"},          {0x81, SE, 0xb98, 1, true, "seswr"},
    {0x82, AXIAP, 0xb98, 2, false, "axiapr"},      {0x83, AXIAP, 0xb98, 3, true, "axiapw"},
    {0x84, ETR, 0xb98, 4, false, "etrr"},          {0x85, ETR, 0xb98, 5, true, "etrw"},
    {0x86, TSECB, 0xb98, 6, false, "tsecsrdb"},    {0x87, TSECB, 0xb98, 7, true, "tsecswrb"},
    {0x88, GPU, 0xb98, 8, false, "gpusrd2"},       {0x89, GPU, 0xb98, 9, true, "gpuswr2"},
};
constexpr Swgroup kSwgroups[] = {
    {DC, 0x240, "dc"},         {DCB, 0x244, "dcb"},       {AFI, 0x238, "afi"},
    {AVPC, 0x23c, "avpc"},     {HDA, 0x254, "hda"},       {HC, 0x250, "hc"},
    {NVENC, 0x264, "nvenc"},   {PPCS, 0x270, "ppcs"},     {SATA, 0x274, "sata"},
    {ISP2, 0x258, "isp2"},     {XUSB_HOST, 0x288, "xusb_host"}, {XUSB_DEV, 0x28c, "xusb_dev"},
    {ISP2B, 0xaa4, "isp2b"},   {TSEC, 0x294, "tsec"},     {A9AVP, 0x290, "a9avp"},
    {GPU, 0xaac, "gpu"},       {SDMMC1A, 0xa94, "sdmmc1a"}, {SDMMC2A, 0xa98, "sdmmc2a"},
    {SDMMC3A, 0xa9c, "sdmmc3a"}, {SDMMC4A, 0xaa0, "sdmmc4a"}, {VIC, 0x284, "vic"},
    {VI, 0x280, "vi"},         {NVDEC, 0xab4, "nvdec"},   {APE, 0xab8, "ape"},
    {NVJPG, 0xac0, "nvjpg"},   {SE, 0xabc, "se"},         {AXIAP, 0xacc, "axiap"},
    {ETR, 0xad0, "etr"},       {TSECB, 0xad4, "tsecb"},
};
// Linux tegra210_group_display.
constexpr uint8_t kDisplay[] = {DC, DCB};
constexpr SwgroupGroup kGroups[] = {{"display", kDisplay}};
}  // namespace t210

// include/dt-bindings/memory/tegra124-mc.h
namespace t124 {
enum : uint8_t { DC = 1, DCB, AFI, AVPC, HDA, HC, MSENC, PPCS, SATA, VDE, MPCORELP, MPCORE, ISP2, XUSB_HOST, XUSB_DEV,
                 ISP2B, TSEC, A9AVP, GPU, SDMMC1A, SDMMC2A, SDMMC3A, SDMMC4A, VIC, VI };
constexpr McClient kClients[] = {
    {0x01, DC, 0x228, 1, false, "display0a"},      {0x02, DCB, 0x228, 2, false, "display0ab"},
    {0x03, DC, 0x228, 3, false, "display0b"},      {0x04, DCB, 0x228, 4, false, "display0bb"},
    {0x05, DC, 0x228, 5, false, "display0c"},      {0x06, DCB, 0x228, 6, false, "display0cb"},
    {0x0e, AFI, 0x228, 14, false, "afir"},         {0x0f, AVPC, 0x228, 15, false, "avpcarm7r"},
    {0x10, DC, 0x228, 16, false, "displayhc"},     {0x11, DCB, 0x228, 17, false, "displayhcb"},
    {0x15, HDA, 0x228, 21, false, "hdar"},         {0x16, HC, 0x228, 22, false, "host1xdmar"},
    {0x17, HC, 0x228, 23, false, "host1xr"},       {0x1c, MSENC, 0x228, 28, false, "msencsrd"},
    {0x1d, PPCS, 0x228, 29, false, "ppcsahbdmar"}, {0x1e, PPCS, 0x228, 30, false, "ppcsahbslvr"},
    {0x1f, SATA, 0x228, 31, false, "satar"},       {0x22, VDE, 0x22c, 2, false, "vdebsevr"},
    {0x23, VDE, 0x22c, 3, false, "vdember"},       {0x24, VDE, 0x22c, 4, false, "vdemcer"},
    {0x25, VDE, 0x22c, 5, false, "vdetper"},       {0x2b, MSENC, 0x22c, 11, true, "msencswr"},
    {0x31, AFI, 0x22c, 17, true, "afiw"},          {0x32, AVPC, 0x22c, 18, true, "avpcarm7w"},
    {0x35, HDA, 0x22c, 21, true, "hdaw"},          {0x36, HC, 0x22c, 22, true, "host1xw"},
    {0x3b, PPCS, 0x22c, 27, true, "ppcsahbdmaw"},  {0x3c, PPCS, 0x22c, 28, true, "ppcsahbslvw"},
    {0x3d, SATA, 0x22c, 29, true, "sataw"},        {0x3e, VDE, 0x22c, 30, true, "vdebsevw"},
    {0x3f, VDE, 0x22c, 31, true, "vdedbgw"},       {0x40, VDE, 0x230, 0, true, "vdembew"},
    {0x41, VDE, 0x230, 1, true, "vdetpmw"},        {0x44, ISP2, 0x230, 4, false, "ispra"},
    {0x46, ISP2, 0x230, 6, true, "ispwa"},         {0x47, ISP2, 0x230, 7, true, "ispwb"},
    {0x4a, XUSB_HOST, 0x230, 10, false, "xusb_hostr"}, {0x4b, XUSB_HOST, 0x230, 11, true, "xusb_hostw"},
    {0x4c, XUSB_DEV, 0x230, 12, false, "xusb_devr"},   {0x4d, XUSB_DEV, 0x230, 13, true, "xusb_devw"},
    {0x4e, ISP2B, 0x230, 14, false, "isprab"},     {0x50, ISP2B, 0x230, 16, true, "ispwab"},
    {0x51, ISP2B, 0x230, 17, true, "ispwbb"},      {0x54, TSEC, 0x230, 20, false, "tsecsrd"},
    {0x55, TSEC, 0x230, 21, true, "tsecswr"},      {0x56, A9AVP, 0x230, 22, false, "a9avpscr"},
    {0x57, A9AVP, 0x230, 23, true, "a9avpscw"},    {0x58, GPU, 0x230, 24, false, "gpusrd"},
    {0x59, GPU, 0x230, 25, true, "gpuswr"},        {0x5a, DC, 0x230, 26, false, "displayt"},
    {0x60, SDMMC1A, 0x234, 0, false, "sdmmcra"},   {0x61, SDMMC2A, 0x234, 1, false, "sdmmcraa"},
    {0x62, SDMMC3A, 0x234, 2, false, "sdmmcr"},    {0x63, SDMMC4A, 0x234, 3, false, "sdmmcrab"},
    {0x64, SDMMC1A, 0x234, 4, true, "sdmmcwa"},    {0x65, SDMMC2A, 0x234, 5, true, "sdmmcwaa"},
    {0x66, SDMMC3A, 0x234, 6, true, "sdmmcw"},     {0x67, SDMMC4A, 0x234, 7, true, "sdmmcwab"},
    {0x6c, VIC, 0x234, 12, false, "vicsrd"},       {0x6d, VIC, 0x234, 13, true, "vicswr"},
    {0x72, VI, 0x234, 18, true, "viw"},            {0x73, DC, 0x234, 19, false, "displayd"},
};
constexpr Swgroup kSwgroups[] = {
    {DC, 0x240, "dc"},         {DCB, 0x244, "dcb"},       {AFI, 0x238, "afi"},
    {AVPC, 0x23c, "avpc"},     {HDA, 0x254, "hda"},       {HC, 0x250, "hc"},
    {MSENC, 0x264, "msenc"},   {PPCS, 0x270, "ppcs"},     {SATA, 0x274, "sata"},
    {VDE, 0x27c, "vde"},       {ISP2, 0x258, "isp2"},     {XUSB_HOST, 0x288, "xusb_host"},
    {XUSB_DEV, 0x28c, "xusb_dev"}, {ISP2B, 0xaa4, "isp2b"}, {TSEC, 0x294, "tsec"},
    {A9AVP, 0x290, "a9avp"},   {GPU, 0xaac, "gpu"},       {SDMMC1A, 0xa94, "sdmmc1a"},
    {SDMMC2A, 0xa98, "sdmmc2a"}, {SDMMC3A, 0xa9c, "sdmmc3a"}, {SDMMC4A, 0xaa0, "sdmmc4a"},
    {VIC, 0x284, "vic"},       {VI, 0x280, "vi"},
};
// Linux 6.1/6.12 tegra124_group_drm (GPU left it in Linux 5.10).
constexpr uint8_t kDrm[] = {DC, DCB, VIC};
constexpr SwgroupGroup kGroups[] = {{"drm", kDrm}};
}  // namespace t124

// Linux tegra210_smmu_soc / tegra124_mc_soc: 128 ASIDs, 48 / 32 TLB lines,
// 34-bit addresses.
constexpr SmmuSoc kTegra210{"tegra210", t210::kClients, t210::kSwgroups, t210::kGroups, 128, 48, 34};
constexpr SmmuSoc kTegra124{"tegra124", t124::kClients, t124::kSwgroups, t124::kGroups, 128, 32, 34};

}  // namespace

const SmmuSoc& tegra210_soc() { return kTegra210; }
const SmmuSoc& tegra124_soc() { return kTegra124; }

const SmmuSoc* soc_for_compatible(std::string_view c) {
  if (c == "nvidia,tegra210-mc") return &kTegra210;
  if (c == "nvidia,tegra132-mc" || c == "nvidia,tegra124-mc") return &kTegra124;
  return nullptr;
}

const SwgroupGroup* find_group(const SmmuSoc& soc, unsigned swgroup) {
  for (const auto& g : soc.groups)
    for (uint8_t s : g.swgroups)
      if (s == swgroup) return &g;
  return nullptr;
}

const McClient* find_client(const SmmuSoc& soc, unsigned id) {
  for (const auto& c : soc.clients)
    if (c.id == id) return &c;
  return nullptr;
}

const Swgroup* find_swgroup(const SmmuSoc& soc, unsigned swgroup) {
  for (const auto& g : soc.swgroups)
    if (g.swgroup == swgroup) return &g;
  return nullptr;
}

}  // namespace modiommu::tegra_smmu

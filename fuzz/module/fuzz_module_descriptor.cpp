// libFuzzer: descriptor reading (relocations, strings, params, aliases) from
// an arbitrary ELF image, as depmod and modinfo do.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "module/info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto elf = modiommu::ElfFile::parse("fuzz.so", std::vector<uint8_t>(data, data + size));
  if (!elf) return 0;
  auto info = modiommu::module_info_from_elf(*elf);
  if (info) (void)info->to_text();
  return 0;
}

// libFuzzer: the ELF reader on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "module/elf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto elf = modiommu::ElfFile::parse("fuzz.so", std::vector<uint8_t>(data, data + size));
  if (!elf) return 0;
  (void)elf->exports(true);
  (void)elf->imports(true);
  for (const auto& s : elf->dynamic_symbols()) {
    (void)elf->read_cstring(s.value, 64);
    (void)elf->read_pointer(s.value);
  }
  return 0;
}

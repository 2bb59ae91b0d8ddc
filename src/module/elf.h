// A bounds-checked reader for ELF64 little-endian shared objects: the
// dynamic symbol table (exports and imports, as depmod reads them) and the
// initialised data of a loaded image, with relative relocations applied, so
// a module's descriptor can be read without running the module's code.
// Every malformed input gives an error naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

struct MODIOMMU_API ElfSymbol {
  std::string name;
  uint64_t value = 0;  // st_value: virtual address for defined symbols
  uint64_t size = 0;
  uint8_t bind = 0;  // STB_*
  uint8_t type = 0;  // STT_*
  uint8_t visibility = 0;  // STV_*
  bool defined = false;
  bool weak() const;
  // Defined, global/weak/unique binding, default or protected visibility:
  // what another object can bind to.
  bool exported() const;
};

// What to read of a file: everything, or the symbol table alone (a host
// executable's exports: its relocations are never needed, and in a large
// sanitizer build they were most of every kernel's start-up time).
enum class ElfRead { all, symbols };

class MODIOMMU_API ElfFile {
 public:
  // `where` names the file in messages.
  static Result<ElfFile> parse(std::string where, std::vector<uint8_t> bytes, ElfRead what = ElfRead::all);
  static Result<ElfFile> open(const std::string& path, ElfRead what = ElfRead::all);

  const std::string& where() const { return where_; }
  uint16_t machine() const { return machine_; }  // EM_*
  uint16_t type() const { return type_; }        // ET_DYN / ET_EXEC
  const std::vector<ElfSymbol>& dynamic_symbols() const { return syms_; }
  const std::vector<std::string>& needed() const { return needed_; }  // DT_NEEDED
  const ElfSymbol* find_symbol(std::string_view name) const;

  // Names of symbols another object can bind to; `include_weak` adds weak
  // and unique ones (C++ inline instantiations). ASan ODR indicators
  // (__odr_asan.*) are left out.
  std::vector<std::string> exports(bool include_weak) const;
  // Weak definitions only (C++ vtables, typeinfo and other vague linkage):
  // they may satisfy another module's import but never clash with it.
  std::vector<std::string> weak_exports() const;
  // Undefined symbols; weak undefined ones may stay unresolved (ELF gABI),
  // so they are left out unless asked for.
  std::vector<std::string> imports(bool include_weak) const;

  // The file bytes backing [vaddr, vaddr+size) in a PT_LOAD segment.
  Result<std::span<const uint8_t>> read_vaddr(uint64_t vaddr, uint64_t size) const;
  // The NUL-terminated string at vaddr (at most max_len bytes before the NUL).
  Result<std::string> read_cstring(uint64_t vaddr, size_t max_len) const;
  // The pointer-sized value at vaddr as the dynamic linker would leave it
  // for a load at address 0: relative relocations (RELA, REL, RELR) and
  // absolute relocations against defined symbols applied. An error for a
  // file read with ElfRead::symbols.
  Result<uint64_t> read_pointer(uint64_t vaddr) const;

 private:
  struct Segment {
    uint64_t vaddr, memsz, offset, filesz;
  };
  Error err(std::string what) const;
  bool in_file(uint64_t off, uint64_t len) const;
  Result<uint64_t> vaddr_to_offset(uint64_t vaddr, uint64_t len) const;
  Status parse_headers();
  Status parse_dynamic();
  Status parse_symbols_from_sections(bool& found);
  Status parse_symbols_from_dynamic();
  Result<uint64_t> symbol_count_from_hash() const;
  Status read_symbols(uint64_t off, uint64_t count, uint64_t str_off, uint64_t str_size);
  Status parse_relocations();

  std::string where_;
  std::vector<uint8_t> bytes_;
  uint16_t machine_ = 0;
  uint16_t type_ = 0;
  std::vector<Segment> loads_;
  std::vector<ElfSymbol> syms_;
  std::vector<std::string> needed_;
  std::unordered_map<std::string, size_t> by_name_;
  // Dynamic section entries (tag -> value; last wins, DT_NEEDED apart).
  std::unordered_map<int64_t, uint64_t> dyn_;
  bool has_dynamic_ = false;
  bool relocations_read_ = false;
  // r_offset -> final pointer value for a load at 0.
  std::unordered_map<uint64_t, uint64_t> relocated_;
};

}  // namespace modiommu

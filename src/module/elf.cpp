#include "module/elf.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/file.h"

namespace modiommu {

namespace {

constexpr uint64_t kMaxFileSize = 256ull << 20;  // a module is never this big
constexpr uint64_t kMaxSymbols = 1u << 20;

template <class T>
T load(const std::vector<uint8_t>& b, uint64_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));  // unaligned-safe
  return v;
}

bool add_overflows(uint64_t a, uint64_t b) { return a + b < a; }

// Relocation types that leave "base + addend" (or "S + A") in a pointer.
bool is_relative(uint16_t machine, uint32_t type) {
  return (machine == EM_X86_64 && type == R_X86_64_RELATIVE) ||
         (machine == EM_AARCH64 && type == R_AARCH64_RELATIVE);
}
bool is_abs64(uint16_t machine, uint32_t type) {
  return (machine == EM_X86_64 && (type == R_X86_64_64 || type == R_X86_64_GLOB_DAT)) ||
         (machine == EM_AARCH64 && (type == R_AARCH64_ABS64 || type == R_AARCH64_GLOB_DAT));
}

}  // namespace

bool ElfSymbol::weak() const { return bind == STB_WEAK || bind == STB_GNU_UNIQUE; }

bool ElfSymbol::exported() const {
  if (!defined || name.empty()) return false;
  if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return false;
  if (visibility != STV_DEFAULT && visibility != STV_PROTECTED) return false;
  return type != STT_SECTION && type != STT_FILE;
}

Error ElfFile::err(std::string what) const {
  return make_error(Errc::inval, fmt::format("{}: ELF: {}", where_, what));
}

bool ElfFile::in_file(uint64_t off, uint64_t len) const {
  return !add_overflows(off, len) && off + len <= bytes_.size();
}

Result<ElfFile> ElfFile::open(const std::string& path, ElfRead what) {
  // A directory, fifo or unreadable file says what it is (base/file.h).
  auto text = read_file_capped(path, kMaxFileSize, /*regular_only=*/true);
  if (!text.ok()) return std::move(text).error();
  // One memcpy: an element-wise copy of a 100+ MiB sanitizer executable
  // cost seconds per kernel.
  std::vector<uint8_t> bytes(text->size());
  if (!bytes.empty()) std::memcpy(bytes.data(), text->data(), bytes.size());
  text->clear();
  text->shrink_to_fit();
  return parse(path, std::move(bytes), what);
}

Result<ElfFile> ElfFile::parse(std::string where, std::vector<uint8_t> bytes, ElfRead what) {
  ElfFile f;
  f.where_ = std::move(where);
  f.bytes_ = std::move(bytes);
  TRY(f.parse_headers());
  TRY(f.parse_dynamic());
  bool found = false;
  TRY(f.parse_symbols_from_sections(found));
  if (!found) TRY(f.parse_symbols_from_dynamic());
  if (what == ElfRead::all) {
    TRY(f.parse_relocations());
    f.relocations_read_ = true;
  }
  for (size_t i = 0; i < f.syms_.size(); ++i) {
    const ElfSymbol& s = f.syms_[i];
    if (s.name.empty()) continue;
    // A defined symbol wins over an undefined one of the same name.
    auto [it, inserted] = f.by_name_.emplace(s.name, i);
    if (!inserted && !f.syms_[it->second].defined && s.defined) it->second = i;
  }
  return f;
}

// ELF header and program headers (gABI "ELF Header", "Program Header").
Status ElfFile::parse_headers() {
  if (bytes_.size() < sizeof(Elf64_Ehdr))
    return err(fmt::format("file too short for an ELF header ({} bytes)", bytes_.size()));
  if (std::memcmp(bytes_.data(), ELFMAG, SELFMAG) != 0) return err("bad magic (not an ELF file)");
  if (bytes_[EI_CLASS] != ELFCLASS64) return err(fmt::format("class {} is not ELFCLASS64", bytes_[EI_CLASS]));
  if (bytes_[EI_DATA] != ELFDATA2LSB)
    return err(fmt::format("data encoding {} is not little-endian", bytes_[EI_DATA]));
  auto eh = load<Elf64_Ehdr>(bytes_, 0);
  type_ = eh.e_type;
  machine_ = eh.e_machine;
  if (type_ != ET_DYN && type_ != ET_EXEC) return err(fmt::format("type {} is not ET_DYN or ET_EXEC", type_));
  if (eh.e_phnum != 0) {
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
      return err(fmt::format("program header entry size {} (expected {})", eh.e_phentsize, sizeof(Elf64_Phdr)));
    if (!in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr)))
      return err(fmt::format("program headers (offset {:#x}, {} entries) outside the file ({} bytes)",
                             eh.e_phoff, eh.e_phnum, bytes_.size()));
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    auto ph = load<Elf64_Phdr>(bytes_, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_DYNAMIC) continue;
    if (!in_file(ph.p_offset, ph.p_filesz))
      return err(fmt::format("program header {} (offset {:#x}, size {:#x}) outside the file", i, ph.p_offset,
                             ph.p_filesz));
    if (ph.p_filesz > ph.p_memsz || add_overflows(ph.p_vaddr, ph.p_memsz))
      return err(fmt::format("program header {} has bad sizes", i));
    if (ph.p_type == PT_LOAD) {
      loads_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
    } else {
      if (has_dynamic_) return err("more than one PT_DYNAMIC");
      has_dynamic_ = true;
      // Dynamic entries: d_tag, d_val (gABI "Dynamic Section"); DT_NULL ends.
      for (uint64_t off = ph.p_offset; off + sizeof(Elf64_Dyn) <= ph.p_offset + ph.p_filesz;
           off += sizeof(Elf64_Dyn)) {
        auto d = load<Elf64_Dyn>(bytes_, off);
        if (d.d_tag == DT_NULL) break;
        if (d.d_tag == DT_NEEDED)
          needed_.push_back(std::to_string(d.d_un.d_val));  // offset; resolved below
        else
          dyn_[d.d_tag] = d.d_un.d_val;
      }
    }
  }
  return {};
}

Result<uint64_t> ElfFile::vaddr_to_offset(uint64_t vaddr, uint64_t len) const {
  if (add_overflows(vaddr, len)) return err(fmt::format("address range {:#x}+{:#x} overflows", vaddr, len));
  for (const Segment& s : loads_) {
    if (vaddr >= s.vaddr && vaddr + len <= s.vaddr + s.filesz) return s.offset + (vaddr - s.vaddr);
  }
  return err(fmt::format("address range {:#x}+{:#x} is not backed by file data of any PT_LOAD", vaddr, len));
}

Status ElfFile::parse_dynamic() {
  if (!has_dynamic_) return {};
  // Resolve DT_NEEDED names through DT_STRTAB (kept best-effort: a module's
  // needed list is informative only).
  std::vector<std::string> names;
  auto strtab = dyn_.find(DT_STRTAB);
  auto strsz = dyn_.find(DT_STRSZ);
  if (!needed_.empty()) {
    if (strtab == dyn_.end() || strsz == dyn_.end()) return err("DT_NEEDED without DT_STRTAB/DT_STRSZ");
    uint64_t base = TRY(vaddr_to_offset(strtab->second, strsz->second));
    for (const std::string& o : needed_) {
      uint64_t off = std::stoull(o);
      if (off >= strsz->second) return err(fmt::format("DT_NEEDED name offset {:#x} outside DT_STRTAB", off));
      const char* p = reinterpret_cast<const char*>(bytes_.data() + base + off);
      size_t n = strnlen(p, strsz->second - off);
      if (n == strsz->second - off) return err("DT_NEEDED name not NUL-terminated");
      names.emplace_back(p, n);
    }
  }
  needed_ = std::move(names);
  return {};
}

Status ElfFile::read_symbols(uint64_t off, uint64_t count, uint64_t str_off, uint64_t str_size) {
  if (count > kMaxSymbols) return err(fmt::format("{} dynamic symbols is too many", count));
  if (!in_file(off, count * sizeof(Elf64_Sym)))
    return err(fmt::format("dynamic symbol table (offset {:#x}, {} entries) outside the file", off, count));
  if (!in_file(str_off, str_size)) return err("dynamic string table outside the file");
  syms_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    auto s = load<Elf64_Sym>(bytes_, off + i * sizeof(Elf64_Sym));
    ElfSymbol e;
    if (s.st_name != 0) {
      if (s.st_name >= str_size)
        return err(fmt::format("symbol {} name offset {:#x} outside the string table ({:#x} bytes)", i,
                               s.st_name, str_size));
      const char* p = reinterpret_cast<const char*>(bytes_.data() + str_off + s.st_name);
      size_t n = strnlen(p, str_size - s.st_name);
      if (n == str_size - s.st_name) return err(fmt::format("symbol {} name is not NUL-terminated", i));
      e.name.assign(p, n);
    }
    e.value = s.st_value;
    e.size = s.st_size;
    e.bind = ELF64_ST_BIND(s.st_info);
    e.type = ELF64_ST_TYPE(s.st_info);
    e.visibility = ELF64_ST_VISIBILITY(s.st_other);
    e.defined = s.st_shndx != SHN_UNDEF;
    syms_.push_back(std::move(e));
  }
  return {};
}

// .dynsym through the section headers (gABI "Sections", SHT_DYNSYM + sh_link).
Status ElfFile::parse_symbols_from_sections(bool& found) {
  auto eh = load<Elf64_Ehdr>(bytes_, 0);
  if (eh.e_shnum == 0 || eh.e_shoff == 0) return {};
  if (eh.e_shentsize != sizeof(Elf64_Shdr))
    return err(fmt::format("section header entry size {} (expected {})", eh.e_shentsize, sizeof(Elf64_Shdr)));
  if (!in_file(eh.e_shoff, uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr)))
    return err(fmt::format("section headers (offset {:#x}, {} entries) outside the file ({} bytes)", eh.e_shoff,
                           eh.e_shnum, bytes_.size()));
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    auto sh = load<Elf64_Shdr>(bytes_, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr));
    if (sh.sh_type != SHT_DYNSYM) continue;
    if (sh.sh_entsize != sizeof(Elf64_Sym))
      return err(fmt::format(".dynsym entry size {} (expected {})", sh.sh_entsize, sizeof(Elf64_Sym)));
    if (sh.sh_link == 0 || sh.sh_link >= eh.e_shnum)
      return err(fmt::format(".dynsym sh_link {} is not a section index", sh.sh_link));
    auto str = load<Elf64_Shdr>(bytes_, eh.e_shoff + uint64_t{sh.sh_link} * sizeof(Elf64_Shdr));
    if (str.sh_type != SHT_STRTAB) return err(fmt::format(".dynsym sh_link {} is not a string table", sh.sh_link));
    if (!in_file(sh.sh_offset, sh.sh_size)) return err(".dynsym section outside the file");
    found = true;
    return read_symbols(sh.sh_offset, sh.sh_size / sizeof(Elf64_Sym), str.sh_offset, str.sh_size);
  }
  return {};
}

// Without section headers the dynamic symbol count comes from the hash
// table: DT_HASH's nchain, or the highest index reachable in DT_GNU_HASH.
Result<uint64_t> ElfFile::symbol_count_from_hash() const {
  if (auto h = dyn_.find(DT_HASH); h != dyn_.end()) {
    uint64_t off = TRY(vaddr_to_offset(h->second, 8));
    return uint64_t{load<uint32_t>(bytes_, off + 4)};
  }
  auto g = dyn_.find(DT_GNU_HASH);
  if (g == dyn_.end()) return err("no section headers and no DT_HASH/DT_GNU_HASH: symbol count unknown");
  uint64_t off = TRY(vaddr_to_offset(g->second, 16));
  uint32_t nbuckets = load<uint32_t>(bytes_, off);
  uint32_t symoffset = load<uint32_t>(bytes_, off + 4);
  uint32_t bloom_size = load<uint32_t>(bytes_, off + 8);
  uint64_t buckets = off + 16 + uint64_t{bloom_size} * 8;
  if (!in_file(buckets, uint64_t{nbuckets} * 4)) return err("DT_GNU_HASH buckets outside the file");
  uint32_t max_sym = 0;
  for (uint32_t b = 0; b < nbuckets; ++b) max_sym = std::max(max_sym, load<uint32_t>(bytes_, buckets + b * 4ull));
  if (max_sym == 0) return uint64_t{symoffset};
  if (max_sym < symoffset) return err("DT_GNU_HASH bucket below symoffset");
  uint64_t chains = buckets + uint64_t{nbuckets} * 4;
  // Walk the last chain to its end marker (low bit set).
  for (uint64_t i = max_sym;; ++i) {
    uint64_t c = chains + (i - symoffset) * 4;
    if (!in_file(c, 4)) return err("DT_GNU_HASH chain runs off the file");
    if (i - max_sym > kMaxSymbols) return err("DT_GNU_HASH chain too long");
    if (load<uint32_t>(bytes_, c) & 1) return i + 1;
  }
}

Status ElfFile::parse_symbols_from_dynamic() {
  if (!has_dynamic_) return {};  // a static object: no dynamic symbols
  auto symtab = dyn_.find(DT_SYMTAB), strtab = dyn_.find(DT_STRTAB), strsz = dyn_.find(DT_STRSZ);
  if (symtab == dyn_.end() || strtab == dyn_.end() || strsz == dyn_.end())
    return err("no .dynsym section and no DT_SYMTAB/DT_STRTAB/DT_STRSZ");
  uint64_t count = TRY(symbol_count_from_hash());
  if (count > kMaxSymbols) return err(fmt::format("{} dynamic symbols is too many", count));
  uint64_t off = TRY(vaddr_to_offset(symtab->second, count * sizeof(Elf64_Sym)));
  uint64_t str_off = TRY(vaddr_to_offset(strtab->second, strsz->second));
  return read_symbols(off, count, str_off, strsz->second);
}

// Relative and absolute relocations, from DT_RELA/DT_REL/DT_RELR (gABI
// "Relocation"; RELR: the SHT_RELR proposal adopted by gABI in 2018).
Status ElfFile::parse_relocations() {
  auto get = [&](int64_t tag) -> std::optional<uint64_t> {
    auto it = dyn_.find(tag);
    if (it == dyn_.end()) return std::nullopt;
    return it->second;
  };
  auto sym_value = [&](uint64_t idx) -> std::optional<uint64_t> {
    if (idx >= syms_.size() || !syms_[idx].defined) return std::nullopt;
    return syms_[idx].value;
  };
  if (auto rela = get(DT_RELA)) {
    uint64_t size = get(DT_RELASZ).value_or(0), ent = get(DT_RELAENT).value_or(sizeof(Elf64_Rela));
    if (ent != sizeof(Elf64_Rela)) return err(fmt::format("DT_RELAENT {} (expected {})", ent, sizeof(Elf64_Rela)));
    uint64_t off = TRY(vaddr_to_offset(*rela, size));
    for (uint64_t i = 0; i + sizeof(Elf64_Rela) <= size; i += sizeof(Elf64_Rela)) {
      auto r = load<Elf64_Rela>(bytes_, off + i);
      uint32_t t = ELF64_R_TYPE(r.r_info);
      if (is_relative(machine_, t)) {
        relocated_[r.r_offset] = static_cast<uint64_t>(r.r_addend);
      } else if (is_abs64(machine_, t)) {
        if (auto v = sym_value(ELF64_R_SYM(r.r_info))) relocated_[r.r_offset] = *v + static_cast<uint64_t>(r.r_addend);
      }
    }
  }
  if (auto rel = get(DT_REL)) {
    uint64_t size = get(DT_RELSZ).value_or(0);
    uint64_t off = TRY(vaddr_to_offset(*rel, size));
    for (uint64_t i = 0; i + sizeof(Elf64_Rel) <= size; i += sizeof(Elf64_Rel)) {
      auto r = load<Elf64_Rel>(bytes_, off + i);
      uint32_t t = ELF64_R_TYPE(r.r_info);
      // REL keeps the addend in place: base + *where for a relative one.
      if (is_relative(machine_, t)) {
        if (auto w = vaddr_to_offset(r.r_offset, 8); w.ok()) relocated_[r.r_offset] = load<uint64_t>(bytes_, *w);
      }
    }
  }
  if (auto relr = get(DT_RELR)) {
    uint64_t size = get(DT_RELRSZ).value_or(0);
    uint64_t off = TRY(vaddr_to_offset(*relr, size));
    uint64_t where = 0;
    auto apply = [&](uint64_t a) {
      if (auto w = vaddr_to_offset(a, 8); w.ok()) relocated_[a] = load<uint64_t>(bytes_, *w);
    };
    for (uint64_t i = 0; i + 8 <= size; i += 8) {
      uint64_t e = load<uint64_t>(bytes_, off + i);
      if ((e & 1) == 0) {  // an address: relocate it, then continue after it
        apply(e);
        where = e + 8;
      } else {  // a bitmap of the next 63 words
        for (uint64_t b = 0; (e >>= 1) != 0; ++b)
          if (e & 1) apply(where + b * 8);
        where += 63 * 8;
      }
    }
  }
  return {};
}

const ElfSymbol* ElfFile::find_symbol(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &syms_[it->second];
}

namespace {
// ASan's ODR indicators are instrumentation, not an interface.
bool interface_symbol(const ElfSymbol& s) { return s.exported() && !s.name.starts_with("__odr_asan"); }
}  // namespace

std::vector<std::string> ElfFile::exports(bool include_weak) const {
  std::vector<std::string> out;
  for (const ElfSymbol& s : syms_)
    if (interface_symbol(s) && (include_weak || !s.weak())) out.push_back(s.name);
  return out;
}

std::vector<std::string> ElfFile::weak_exports() const {
  std::vector<std::string> out;
  for (const ElfSymbol& s : syms_)
    if (interface_symbol(s) && s.weak()) out.push_back(s.name);
  return out;
}

std::vector<std::string> ElfFile::imports(bool include_weak) const {
  std::vector<std::string> out;
  for (const ElfSymbol& s : syms_)
    if (!s.defined && !s.name.empty() && (include_weak || !s.weak())) out.push_back(s.name);
  return out;
}

Result<std::span<const uint8_t>> ElfFile::read_vaddr(uint64_t vaddr, uint64_t size) const {
  uint64_t off = TRY(vaddr_to_offset(vaddr, size));
  return std::span<const uint8_t>(bytes_.data() + off, size);
}

Result<std::string> ElfFile::read_cstring(uint64_t vaddr, size_t max_len) const {
  for (const Segment& s : loads_) {
    if (vaddr < s.vaddr || vaddr >= s.vaddr + s.filesz) continue;
    uint64_t off = s.offset + (vaddr - s.vaddr);
    uint64_t avail = std::min<uint64_t>(s.filesz - (vaddr - s.vaddr), max_len + 1);
    const char* p = reinterpret_cast<const char*>(bytes_.data() + off);
    size_t n = strnlen(p, avail);
    if (n == avail) return err(fmt::format("string at {:#x} is longer than {} bytes or not terminated", vaddr, max_len));
    return std::string(p, n);
  }
  return err(fmt::format("string address {:#x} is not in any PT_LOAD segment's file data", vaddr));
}

Result<uint64_t> ElfFile::read_pointer(uint64_t vaddr) const {
  if (!relocations_read_) return err("read for its symbols alone: no relocated pointers");
  if (auto it = relocated_.find(vaddr); it != relocated_.end()) return it->second;
  auto bytes = TRY(read_vaddr(vaddr, 8));
  uint64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

}  // namespace modiommu

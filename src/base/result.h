// Errors are values: every fallible call returns Result<T>. No exception
// crosses a layer or module boundary.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "base/api.h"

namespace modiommu {

// Kernel errno names, so a kernel engineer reads them at once.
enum class Errc {
  inval,        // EINVAL: malformed input
  noent,        // ENOENT: no such object
  nodev,        // ENODEV: no device / no driver
  busy,         // EBUSY: in use
  probe_defer,  // EPROBE_DEFER: try again when a dependency changes
  nomem,        // ENOMEM
  io,           // EIO: hardware error
  fault,        // EFAULT: bad address
  timedout,     // ETIMEDOUT
  exist,        // EEXIST
  perm,         // EPERM
  notsup,       // EOPNOTSUPP
  range,        // ERANGE
  loop,         // ELOOP: a cycle
  again,        // EAGAIN
  nospc,        // ENOSPC: no room left (a full ring, no free IDs)
};

MODIOMMU_API const char* errc_name(Errc c);

struct MODIOMMU_API Error {
  Errc code = Errc::inval;
  std::string message;
  // "EINVAL: message"
  std::string str() const;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { assert(ok_); }
  const Error& error() const& { assert(!ok_); return err_; }
  Error&& error() && { assert(!ok_); return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace modiommu

// Evaluates a Result; on error returns it from the enclosing function, else
// yields the value (GNU statement expression, supported by g++ and clang).
#define MODIOMMU_TRY(expr)                               \
  ({                                                     \
    auto&& modiommu_try_r_ = (expr);                     \
    if (!modiommu_try_r_.ok())                           \
      return std::move(modiommu_try_r_).error();         \
    std::move(modiommu_try_r_).value();                  \
  })
#define TRY MODIOMMU_TRY

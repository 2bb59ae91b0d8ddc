#include "base/result.h"

namespace modiommu {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::inval: return "EINVAL";
    case Errc::noent: return "ENOENT";
    case Errc::nodev: return "ENODEV";
    case Errc::busy: return "EBUSY";
    case Errc::probe_defer: return "EPROBE_DEFER";
    case Errc::nomem: return "ENOMEM";
    case Errc::io: return "EIO";
    case Errc::fault: return "EFAULT";
    case Errc::timedout: return "ETIMEDOUT";
    case Errc::exist: return "EEXIST";
    case Errc::perm: return "EPERM";
    case Errc::notsup: return "EOPNOTSUPP";
    case Errc::range: return "ERANGE";
    case Errc::loop: return "ELOOP";
    case Errc::again: return "EAGAIN";
    case Errc::nospc: return "ENOSPC";
  }
  return "E?";
}

std::string Error::str() const { return std::string(errc_name(code)) + ": " + message; }

}  // namespace modiommu

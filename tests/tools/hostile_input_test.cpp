// Hostile and careless input to the host binary (issue 15, section 6):
// every case is a clear error (exit 2 for bad input) or the right answer,
// never an abort, a hang or a wrong "ok".
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tools_util.h"

using namespace modiommu::tools_test;

namespace {

// Bounded: a regression to an endless read or loop fails, not hangs.
Ran run_bounded(const std::string& cmd, bool merge = true) { return run("timeout 120 " + cmd, merge); }

std::string smmuv3() { return source_dir() + "/platforms/virt-smmuv3.dts"; }

struct TempDir {
  explicit TempDir(const std::string& name) : path(temp_dir(name)) {}
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
  std::filesystem::path path;
};

TEST(HostileInput, NoCommandIsAUsageError) {
  Ran r = run_bounded(host());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("a command is required"), std::string::npos) << r.out;
}

TEST(HostileInput, CheckOfAnEmptyDirectoryIsAUsageError) {
  TempDir d("check-empty");
  Ran r = run_bounded(host() + " check " + d.path.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no .dtb or .dts files in " + d.path.string()), std::string::npos) << r.out;
}

TEST(HostileInput, CheckOfADirectoryWithASymlinkLoopNamesIt) {
  TempDir d("check-loop");
  std::filesystem::copy_file(smmuv3(), d / "good.dts");
  std::filesystem::create_symlink("loop.dtb", d / "loop.dtb");
  std::filesystem::create_directory_symlink(".", d / "again");  // a directory loop: not followed
  Ran r = run_bounded(host() + " check --no-progress " + d.path.string());
  EXPECT_EQ(r.status, 1) << r.out;  // one tree failed to parse
  EXPECT_NE(r.out.find("loop.dtb"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Too many levels of symbolic links"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 trees: 1 parsed"), std::string::npos) << r.out;
}

TEST(HostileInput, ADirectoryAsThePlatformOrScenarioIsRefused) {
  TempDir d("dir-platform");
  const std::string dir = d.path.string();
  for (const std::string& cmd : std::vector<std::string>{"boot " + dir, "run " + dir + " " + dir, "shell " + dir + " </dev/null",
                                "graph " + dir, "sim " + dir + " --steps 1"}) {
    Ran r = run_bounded(host() + " " + cmd);
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find(dir + ": is a directory"), std::string::npos) << cmd << "\n" << r.out;
  }
  Ran r = run_bounded(host() + " run " + smmuv3() + " " + dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("scenario " + dir + ": is a directory"), std::string::npos) << r.out;
}

TEST(HostileInput, EndlessFilesAreRefusedNotRead) {
  Ran boot = run_bounded(host() + " boot /dev/zero");
  EXPECT_EQ(boot.status, 2) << boot.out;
  EXPECT_NE(boot.out.find("/dev/zero: is a character device"), std::string::npos) << boot.out;
  Ran script = run_bounded(host() + " run " + smmuv3() + " /dev/zero");
  EXPECT_EQ(script.status, 2) << script.out;
  EXPECT_NE(script.out.find("/dev/zero: is a character device"), std::string::npos) << script.out;
  Ran check = run_bounded(host() + " check --no-progress /dev/zero");
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("/dev/zero: is a character device"), std::string::npos) << check.out;
  // A pipe is read, up to the cap: 65 MiB of zeros is more than any tree.
  Ran pipe = run_bounded("head -c 68157440 /dev/zero | " + host() + " boot /dev/stdin");
  EXPECT_EQ(pipe.status, 2) << pipe.out;
  EXPECT_NE(pipe.out.find("larger than 64 MiB"), std::string::npos) << pipe.out;
}

TEST(HostileInput, ShellStdinWithoutNewlinesStops) {
  Ran r = run_bounded(host() + " shell " + smmuv3() + " </dev/zero");
  EXPECT_EQ(r.status, 2) << r.out.substr(0, 2000);
  EXPECT_NE(r.out.find("stdin line 1: longer than 65536 bytes"), std::string::npos) << r.out.substr(0, 2000);
}

TEST(HostileInput, AHugeIommuCellCountStopsDtcWithAReason) {
  TempDir d("dtc-loop");
  const std::string dts = d / "cells.dts";
  write_file(dts, R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  smmu: iommu@1000 { compatible = "arm,smmu-v3"; reg = <0x1000 0x100>; #iommu-cells = <0xffffffff>; };
  dma@2000 { compatible = "modiommu,dmatest"; reg = <0x2000 0x100>; iommus = <&smmu 1>; };
};
)");
  const auto t0 = std::chrono::steady_clock::now();
  Ran r = run_bounded(host() + " boot " + dts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(dts + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("s of CPU time"), std::string::npos) << r.out;
  EXPECT_LT(secs, 60) << "the CPU limit did not stop dtc";
}

TEST(HostileInput, SimCountsMustBeCountsThatFit) {
  for (const std::string& bad : std::vector<std::string>{"--seeds -1", "--seed -1", "--steps -1", "--seeds 0", "--steps 0",
                                "--seed 18446744073709551615 --seeds 2", "--seed 18446744073709551616"}) {
    Ran r = run_bounded(host() + " sim " + smmuv3() + " " + bad);
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.out;
    EXPECT_EQ(r.out.find("ok:"), std::string::npos) << bad << "\n" << r.out;
  }
  // The last two seeds of the range run; nothing wraps.
  Ran r = run_bounded(host() + " sim " + smmuv3() + " --seed 18446744073709551614 --seeds 2 --steps 3");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ok: 2 seed(s) from 18446744073709551614, 6 steps"), std::string::npos) << r.out;
}

TEST(HostileInput, DeferredTimeoutIsSecondsOrMinusOne) {
  for (const std::string& bad : std::vector<std::string>{"nan", "-5", "-0.5"}) {
    Ran r = run_bounded(host() + " boot " + smmuv3() + " --deferred-timeout " + bad);
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.out;
    EXPECT_NE(r.out.find("--deferred-timeout wants seconds >= 0, or -1 for never"), std::string::npos) << r.out;
  }
  // Far-off timeouts saturate: they do not wrap into "now".
  TempDir d("timeout");
  const std::string script = write_file(d / "t.run", "boot-complete\nadvance 100\ndeferred\n");
  for (const std::string& far : std::vector<std::string>{"2e10", "inf", "1e300", "-1"}) {
    Ran r = run_bounded(host() + " run " + smmuv3() + " " + script +
                        " --no-autoload --await-module-sources --deferred-timeout " + far);
    EXPECT_EQ(r.status, 0) << far << "\n" << r.out;
    EXPECT_EQ(r.out.find("timeout"), std::string::npos) << far << "\n" << r.out;
  }
  // ... while a near one still expires.
  Ran r = run_bounded(host() + " run " + smmuv3() + " " + script + " --no-autoload --await-module-sources --deferred-timeout 10");
  EXPECT_NE(r.out.find("deferred probe timeout (10 s) expired"), std::string::npos) << r.out;
}

TEST(HostileInput, TheVirtualClockDoesNotWrap) {
  TempDir d("clock");
  std::string text;
  for (int i = 0; i < 600; ++i) text += "advance 31536000\n";
  const std::string script = write_file(d / "years.run", text);
  Ran r = run_bounded(host() + " run " + smmuv3() + " " + script);
  EXPECT_EQ(r.status, 2) << r.out;
  // 584 years fit in 64 bits of nanoseconds; the 585th is refused.
  EXPECT_NE(r.out.find("years.run:585: error: ERANGE: advance 31536000: the virtual clock would pass its end"),
            std::string::npos)
      << r.out;
}

TEST(HostileInput, ScenarioArgumentsAreCheckedForOverflowAndKeptWhole) {
  TempDir d("scenario");
  const std::string dma = write_file(d / "dma.run", "dma 10000000.dma write 17592186044417M\n");
  Ran r = run_bounded(host() + " run " + smmuv3() + " " + dma);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("byte count too large: '17592186044417M'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("verified"), std::string::npos) << r.out;
  // expect-fail keeps the tokens: the quoted name is one argument, and the
  // # inside quotes is not a comment.
  const std::string quoted = write_file(d / "quoted.run", "expect-fail bind \"no such # device\" dmatest\n");
  Ran q = run_bounded(host() + " run " + smmuv3() + " " + quoted);
  EXPECT_EQ(q.status, 0) << q.out;
  EXPECT_NE(q.out.find("no device named 'no such # device'"), std::string::npos) << q.out;
  // A line longer than any command is refused, naming the line.
  const std::string longline = write_file(d / "long.run", "lsdev\n" + std::string(70000, 'x') + "\n");
  Ran l = run_bounded(host() + " run " + smmuv3() + " " + longline);
  EXPECT_EQ(l.status, 2) << l.out.substr(0, 1000);
  EXPECT_NE(l.out.find("long.run:2: error: ERANGE: line longer than 65536 bytes"), std::string::npos);
}

TEST(HostileInput, HotplugOfAFunctionWithoutFunctionZeroIsRefused) {
  TempDir d("hotplug");
  const std::string script = write_file(d / "h.run", "hotplug add 00:09.7 dmatest\n");
  Ran r = run_bounded(host() + " run " + source_dir() + "/platforms/virt-pci-smmuv3.dts " + script);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("device 00:09 has no function 0"), std::string::npos) << r.out;
  // Function 0 of a hotplugged card is single-function: function 7 would
  // not be looked for either.
  const std::string two = write_file(d / "two.run", "hotplug add 00:09.0 dmatest\nhotplug add 00:09.7 dmatest\n");
  Ran t = run_bounded(host() + " run " + source_dir() + "/platforms/virt-pci-smmuv3.dts " + two);
  EXPECT_EQ(t.status, 2) << t.out;
  EXPECT_NE(t.out.find("two.run:2: error: ENODEV: 00:09.7: function 0 of device 00:09 is single-function"),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("0000:00:09.0: bound to driver dmatest-pci"), std::string::npos) << t.out;
}

TEST(HostileInput, ANodeNameOfTwoDevicesIsAmbiguous) {
  TempDir d("ambiguous");
  const std::string dts = write_file(d / "two.dts", R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  memory@40000000 { device_type = "memory"; reg = <0x40000000 0x1000000>; };
  bus@a0000000 { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges = <0 0xa0000000 0x10000>;
    dma@1000 { compatible = "modiommu,dmatest"; reg = <0x1000 0x100>; }; };
  bus@b0000000 { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges = <0 0xb0000000 0x10000>;
    dma@1000 { compatible = "modiommu,dmatest"; reg = <0x1000 0x100>; }; };
};
)");
  Ran r = run_bounded("printf 'explain dma@1000\\nexplain /bus@b0000000/dma@1000\\n' | " + host() + " shell " + dts);
  EXPECT_NE(r.out.find("'dma@1000' is ambiguous: it names 2 devices (/bus@a0000000/dma@1000, /bus@b0000000/dma@1000)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("b0001000.dma: bound"), std::string::npos) << r.out;  // the full path works
}

TEST(HostileInput, LsgroupListsGroupsWithDevicesAndDomain) {
  Ran r = run_bounded("printf 'lsgroup\\nhelp lsgroup\\n' | " + host() + " shell " + smmuv3());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("unknown command"), std::string::npos) << r.out;
  // Four masters behind the SMMU, each a group of its own with a DMA domain.
  EXPECT_EQ(count_of(r.out, ": iommu 9050000.iommu, domain dma (default dma), 1 device(s)"), 4u) << r.out;
  EXPECT_NE(r.out.find("\n  10000000.dma /soc/dma@10000000\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lsgroup\n  IOMMU groups"), std::string::npos) << r.out;
  Ran none = run_bounded("printf 'lsgroup\\n' | " + host() + " shell " + source_dir() + "/platforms/virt-noiommu.dts");
  EXPECT_NE(none.out.find("no IOMMU groups"), std::string::npos) << none.out;
}

TEST(HostileInput, BadModuleOptionsAreUsageErrorsSaidOnce) {
  TempDir d("opts");
  const std::string script = write_file(d / "s.run", "lsmod\n");
  Ran pre = run_bounded(host() + " run " + smmuv3() + " " + script + " --preload nosuch");
  EXPECT_EQ(pre.status, 2) << pre.out;
  EXPECT_NE(pre.out.find("--preload nosuch: module nosuch not found in "), std::string::npos) << pre.out;
  Ran dir = run_bounded(host() + " run " + smmuv3() + " " + script + " --modules /nonexistent-modiommu");
  EXPECT_EQ(dir.status, 2) << dir.out;
  EXPECT_EQ(count_of(dir.out, "/nonexistent-modiommu"), 1u) << dir.out;
  EXPECT_NE(dir.out.find("No such file or directory"), std::string::npos) << dir.out;
  Ran dom = run_bounded(host() + " boot " + smmuv3() + " --domain nosuch=dma");
  EXPECT_EQ(dom.status, 2) << dom.out;
  EXPECT_NE(dom.out.find("--domain nosuch=dma: no device named 'nosuch'"), std::string::npos) << dom.out;
  Ran node = run_bounded(host() + " boot " + smmuv3() + " --domain dma@10000000=identity");
  EXPECT_EQ(node.status, 2) << node.out;
  EXPECT_NE(node.out.find("give the device's name, 10000000.dma"), std::string::npos) << node.out;
  Ran sim = run_bounded(host() + " sim " + smmuv3() + " --steps 1 --domain nosuch=dma");
  EXPECT_EQ(sim.status, 2) << sim.out;
  EXPECT_NE(sim.out.find("--domain nosuch=dma: no device named 'nosuch'"), std::string::npos) << sim.out;
  Ran good = run_bounded(host() + " boot " + smmuv3() + " --domain 10000000.dma=identity --json");
  EXPECT_EQ(good.status, 0) << good.out;
}

TEST(HostileInput, ModinfoAndDepmodSayWhatAFileIs) {
  TempDir d("modfiles");
  std::filesystem::create_directory(d / "dir.so");
  Ran info = run_bounded(host() + " modinfo " + (d / "dir.so"));
  EXPECT_EQ(info.status, 1) << info.out;
  EXPECT_NE(info.out.find("dir.so: is a directory"), std::string::npos) << info.out;
  EXPECT_EQ(info.out.find("too large"), std::string::npos) << info.out;
  ASSERT_EQ(mkfifo((d / "fifo.so").c_str(), 0600), 0);
  std::filesystem::create_symlink("loop.so", d / "loop.so");
  std::filesystem::copy_file(modules_dir() + "/dmatest.so", d / "dmatest.so");
  Ran dep = run_bounded(host() + " depmod " + d.path.string());
  EXPECT_EQ(dep.status, 0) << dep.out;
  EXPECT_NE(dep.out.find("dir.so: skipped: a directory"), std::string::npos) << dep.out;
  EXPECT_NE(dep.out.find("fifo.so: skipped: a fifo"), std::string::npos) << dep.out;
  EXPECT_NE(dep.out.find("loop.so: skipped: a symbolic link loop"), std::string::npos) << dep.out;
  EXPECT_NE(dep.out.find("wrote " + (d / "modules.dep.json") + " (1 modules)"), std::string::npos) << dep.out;
}

// A file the user may not read is named as such ("Permission denied"), not
// "not found". Root reads every file, so as root the commands run as the
// unprivileged uid 65534 (setpriv); as anyone else they run as they are.
TEST(HostileInput, UnreadableFilesSayPermissionDenied) {
  TempDir d("unreadable");
  std::filesystem::permissions(d.path, std::filesystem::perms::all);  // depmod writes its index here
  std::filesystem::copy_file(modules_dir() + "/dmatest.so", d / "ok.so");
  std::filesystem::copy_file(modules_dir() + "/dmatest.so", d / "locked.so");
  std::filesystem::copy_file(smmuv3(), d / "locked.dts");
  for (const char* f : {"locked.so", "locked.dts"})
    std::filesystem::permissions(d / f, std::filesystem::perms::none);
  const std::string as_user = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  Ran info = run_bounded(as_user + host() + " modinfo " + (d / "locked.so"));
  EXPECT_EQ(info.status, 1) << info.out;
  EXPECT_NE(info.out.find("locked.so: Permission denied"), std::string::npos) << info.out;
  Ran boot = run_bounded(as_user + host() + " boot " + (d / "locked.dts"));
  EXPECT_EQ(boot.status, 2) << boot.out;
  EXPECT_NE(boot.out.find("locked.dts: Permission denied"), std::string::npos) << boot.out;
  Ran dep = run_bounded(as_user + host() + " depmod " + d.path.string());
  EXPECT_EQ(dep.status, 0) << dep.out;
  EXPECT_NE(dep.out.find("locked.so: not a module: " + (d / "locked.so") + ": Permission denied"), std::string::npos)
      << dep.out;
  EXPECT_NE(dep.out.find("(1 modules)"), std::string::npos) << dep.out;
}

// A copy of dmatest.so whose description has a byte that is not UTF-8.
std::string bad_description_module(const TempDir& d) {
  std::ifstream in(modules_dir() + "/dmatest.so", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Ran info = run(host() + " modinfo " + modules_dir() + "/dmatest.so");
  const size_t at = info.out.find("description: ");
  if (at == std::string::npos) return "";
  const std::string desc = info.out.substr(at + 13, info.out.find('\n', at) - at - 13);
  const size_t pos = bytes.find(desc);
  if (desc.empty() || pos == std::string::npos) return "";
  bytes[pos] = '\xff';
  const std::string path = d / "dmatest.so";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(HostileInput, NonUtf8BytesNeverBreakTheJson) {
  TempDir d("utf8");
  // A node name and compatibles with bytes that are not UTF-8 (the node
  // name patched into the blob: dtc does not write such names).
  const std::string dts = write_file(d / "b.dts", R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  memory@40000000 { device_type = "memory"; reg = <0x40000000 0x1000000>; };
  dmaQ@1000 { compatible = "vendor,\xfe\xff-dma", "x\xc0\x80"; reg = <0x1000 0x100>; };
};
)");
  const std::string dtb = d / "b\xff.dtb";
  ASSERT_EQ(run("dtc -q -I dts -O dtb -o '" + dtb + "' " + dts).status, 0);
  {
    std::fstream f(dtb, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t pos = bytes.find("dmaQ@1000");
    ASSERT_NE(pos, std::string::npos);
    f.seekp(static_cast<std::streamoff>(pos + 3));
    f.put('\xff');
  }
  Ran boot = run_bounded(host() + " boot --json '" + dtb + "'", false);
  ASSERT_EQ(boot.status, 0) << boot.out;
  auto j = nlohmann::json::parse(boot.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << boot.out;
  EXPECT_NE(boot.out.find("dma\xef\xbf\xbd@1000"), std::string::npos) << boot.out;  // U+FFFD for the byte
  Ran check = run_bounded(host() + " check --json --no-progress " + d.path.string(), false);
  ASSERT_EQ(check.status, 0) << check.out;
  EXPECT_FALSE(nlohmann::json::parse(check.out, nullptr, false).is_discarded()) << check.out;
  EXPECT_NE(check.out.find("b\xef\xbf\xbd.dtb"), std::string::npos) << check.out;

  // A module with such a description is skipped, named, and the rest of
  // its directory still works (the index is rebuilt on boot).
  TempDir m("utf8-mods");
  ASSERT_FALSE(bad_description_module(m).empty());
  std::filesystem::copy_file(modules_dir() + "/arm-smmu-v3.so", m / "arm-smmu-v3.so");
  Ran dep = run_bounded(host() + " depmod " + m.path.string());
  EXPECT_EQ(dep.status, 0) << dep.out;
  EXPECT_NE(dep.out.find("dmatest.so: not a module: its descriptor's description is not UTF-8"), std::string::npos)
      << dep.out;
  std::filesystem::remove(m / "modules.dep.json");
  Ran b = run_bounded(host() + " boot " + smmuv3() + " --modules " + m.path.string());
  EXPECT_EQ(b.status, 0) << b.out;
  EXPECT_NE(b.out.find("dmatest.so skipped: its descriptor's description is not UTF-8"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("9050000.iommu: IOMMU registered"), std::string::npos) << b.out;
}

TEST(HostileInput, VirtioIommuRefusesASecondMasterWithOneEndpointId) {
  TempDir d("viommu-dup");
  std::ifstream in(source_dir() + "/platforms/virt-virtio-mmio-iommu.dts");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t pos = text.find("<&viommu 0x11>");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 14, "<&viommu 0x10>");
  const std::string dts = write_file(d / "dup.dts", text);
  Ran r = run_bounded(host() + " boot --json " + dts, false);
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  int attached = 0;
  for (const auto& dev : j["devices"]) {
    const std::string name = dev["name"];
    if (name == "10000000.dma" || name == "10001000.dma") attached += !dev["iommu"].is_null() && dev["state"] == "bound";
  }
  EXPECT_EQ(attached, 1) << r.out;
  Ran log = run_bounded(host() + " boot " + dts);
  EXPECT_NE(log.out.find("endpoint ID 0x10 of 10001000.dma is already used by 10000000.dma"), std::string::npos)
      << log.out;
}

}  // namespace

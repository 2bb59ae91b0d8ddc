// base/text.h, base/file.h and the virtual clock's saturating arithmetic:
// what outside bytes and outside numbers are turned into.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/file.h"
#include "base/text.h"
#include "core/clock.h"

namespace modiommu {
namespace {

TEST(Utf8, WellFormedOnly) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("arm,smmu-v3"));
  EXPECT_TRUE(is_utf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // été € and an emoji
  EXPECT_FALSE(is_utf8("\xff"));
  EXPECT_FALSE(is_utf8("a\xc3"));            // truncated
  EXPECT_FALSE(is_utf8("\xc0\x80"));         // overlong NUL
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));     // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));     // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Utf8, EscapedKeepsGoodTextAndNamesBadBytes) {
  EXPECT_EQ(utf8_escaped("dma@1000"), "dma@1000");
  EXPECT_EQ(utf8_escaped("\xc3\xa9"), "\xc3\xa9");
  EXPECT_EQ(utf8_escaped("a\xff" "b\xc0\x80"), "a\\xffb\\xc0\\x80");
  EXPECT_TRUE(is_utf8(utf8_escaped("\xfe\xed\xfa\xce")));
}

struct Tmp {
  Tmp() : dir(std::filesystem::path(::testing::TempDir()) / ("base-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(dir);
  }
  ~Tmp() { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
};

TEST(ReadFileCapped, ReadsARegularFileUpToTheCap) {
  Tmp t;
  const std::string f = (t.dir / "f.txt").string();
  std::ofstream(f) << "hello";
  auto r = read_file_capped(f, 5);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "hello");
  auto big = read_file_capped(f, 4);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::range);
  EXPECT_NE(big.error().message.find(f + ": larger than 4 bytes (5 bytes)"), std::string::npos) << big.error().message;
}

TEST(ReadFileCapped, SaysWhatIsNotAFile) {
  Tmp t;
  auto dir = read_file_capped(t.dir.string(), 100);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find(t.dir.string() + ": is a directory"), std::string::npos) << dir.error().message;
  auto zero = read_file_capped("/dev/zero", 1 << 20);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("/dev/zero: is a character device"), std::string::npos);
  auto missing = read_file_capped((t.dir / "none").string(), 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::noent);
  std::filesystem::create_symlink("loop", t.dir / "loop");
  auto loop = read_file_capped((t.dir / "loop").string(), 100);
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, Errc::loop);
  const std::string fifo = (t.dir / "fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // A fifo is a stream: read to its end, but never past the cap.
  std::thread writer([&] { std::ofstream(fifo) << std::string(200, 'x'); });
  auto f = read_file_capped(fifo, 100);
  writer.join();
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find(fifo + ": larger than 100 bytes"), std::string::npos) << f.error().message;
  // Refused without opening it (which would wait for a writer).
  auto strict = read_file_capped(fifo, 100, /*regular_only=*/true);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message.find("is a fifo"), std::string::npos) << strict.error().message;
}

TEST(VirtualClockTime, SecondsSaturateInsteadOfWrapping) {
  EXPECT_EQ(seconds_to_nanos(0), 0u);
  EXPECT_EQ(seconds_to_nanos(1.5), 1'500'000'000u);
  EXPECT_EQ(seconds_to_nanos(-3), 0u);
  EXPECT_EQ(seconds_to_nanos(std::nan("")), 0u);
  EXPECT_EQ(seconds_to_nanos(2e10), kEndOfTime);  // 2e19 ns > 2^64
  EXPECT_EQ(seconds_to_nanos(INFINITY), kEndOfTime);
  EXPECT_EQ(add_saturating(kEndOfTime - 5, 3), kEndOfTime - 2);
  EXPECT_EQ(add_saturating(kEndOfTime - 5, 10), kEndOfTime);
}

TEST(VirtualClockTime, AdvanceStopsAtTheEndOfTime) {
  VirtualClock c;
  bool fired = false;
  c.arm(kEndOfTime - 1, "late", [&] { fired = true; });
  c.advance(kEndOfTime - 10);
  EXPECT_FALSE(fired);
  c.advance(kEndOfTime);  // would wrap to a time before now
  EXPECT_EQ(c.now(), kEndOfTime);
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace modiommu

// BlasOnCallingThread: OpenBLAS runs on the calling thread alone while it lives, and gets its
// thread count back afterwards, nested or not.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "common/blas_core.h"

namespace eleanor {
namespace {

TEST(BlasOnCallingThread, OneThreadWhileAliveAndTheCountBackAfter) {
  using Set = void (*)(int);
  using Get = int (*)();
  const auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const auto parallel = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (!set || !get || !parallel || parallel() != 1)
    GTEST_SKIP() << "this process does not run OpenBLAS's pthreads build";
  const int before = get();
  set(2);
  {
    const BlasOnCallingThread outer;
    EXPECT_EQ(get(), 1);
    {
      const BlasOnCallingThread inner;  // already one: left alone
      EXPECT_EQ(get(), 1);
    }
    EXPECT_EQ(get(), 1);
  }
  EXPECT_EQ(get(), 2);
  set(1);
  { const BlasOnCallingThread single; }
  EXPECT_EQ(get(), 1);
  set(before);
}

}  // namespace
}  // namespace eleanor

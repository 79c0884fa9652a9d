#include "common/stop_request.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace eleanor {
namespace {

TEST(StopRequest, NoSignalNoRequest) {
  installStopRequest();
  clearStopRequest();
  EXPECT_EQ(stopRequestSignal(), 0);
}

TEST(StopRequest, EachStopSignalIsRecordedAndTheProcessLives) {
  installStopRequest();
  for (const int signal : {SIGTERM, SIGINT, SIGUSR1}) {
    clearStopRequest();
    ASSERT_EQ(::raise(signal), 0);
    EXPECT_EQ(stopRequestSignal(), signal) << signalName(signal);
  }
}

TEST(StopRequest, TheFirstRequestIsKeptWhenAnotherFollows) {
  installStopRequest();
  clearStopRequest();
  ::raise(SIGUSR1);
  ::raise(SIGTERM);  // Slurm's time limit after its --signal=USR1@120 warning
  ::raise(SIGTERM);  // scancel's SIGTERM may reach a task twice (directly and through srun)
  EXPECT_EQ(stopRequestSignal(), SIGUSR1);
}

TEST(StopRequestDeathTest, CtrlCTwiceEndsTheProcessAtOnce) {
  EXPECT_EXIT(
      {
        installStopRequest();
        ::raise(SIGINT);
        ::raise(SIGINT);
        std::_Exit(0);  // not reached: the second SIGINT ends the process
      },
      testing::KilledBySignal(SIGINT), "");
}

TEST(StopRequest, SignalNames) {
  EXPECT_EQ(signalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(signalName(SIGINT), "SIGINT");
  EXPECT_EQ(signalName(SIGUSR1), "SIGUSR1");
  EXPECT_EQ(signalName(1000), "signal 1000");
}

}  // namespace
}  // namespace eleanor

// The all-gather the job runs every round (each rank's query embeddings to every rank), timed
// the way NVIDIA's nccl-tests times all_gather_perf, for our MpiCommunicator::allGather (the
// bounded, timeout-checked collective) and for plain MPI_Allgather on the same buffers:
//   size   = bytes each rank receives = ranks x bytes each rank sends
//   time   = mean seconds of one collective, the slowest rank's (max over ranks)
//   algbw  = size / time
//   busbw  = algbw x (n - 1) / n   (nccl-tests' all-gather factor: the share of the data that
//            crosses links, so busbw compares with the hardware's bandwidth whatever n is)
// Run it under mpirun: every rank runs every benchmark (they are collective) with a fixed
// iteration count; rank 0 alone reports.
//   mpirun -np 4 bench_allgather [--benchmark_format=json]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/mpi_communicator.h"
#include "common/process_identity.h"

namespace {

eleanor::MpiCommunicator* communicator = nullptr;

// Per-rank bytes sent: 4 KiB (a 384-float embedding is 1.5 KiB) to 16 MiB.
constexpr int64_t kMinBytes = 4 << 10;
constexpr int64_t kMaxBytes = 16 << 20;

// Fewer iterations for big messages keep every size to a similar wall time.
int64_t iterationsFor(int64_t bytes) {
  return std::max<int64_t>(5, (64 << 20) / bytes / 4);
}

template <class Gather>
void timeAllGather(benchmark::State& state, Gather gather) {
  const int ranks = communicator->size();
  const auto bytes = static_cast<size_t>(state.range(0));
  std::vector<std::byte> send(bytes, std::byte{1});
  std::vector<std::byte> recv(bytes * ranks);
  gather(send.data(), recv.data(), bytes);  // warm-up: connections, registration
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = std::chrono::steady_clock::now();
    gather(send.data(), recv.data(), bytes);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(seconds);
  }
  const double size = static_cast<double>(bytes) * ranks;
  state.counters["bytes"] = size;
  state.counters["ranks"] = ranks;
  // Bytes per second (shown as k/M/G = 1e3/1e6/1e9, as nccl-tests counts). With
  // kIsIterationInvariantRate: size x iterations / total time = size / mean time.
  state.counters["algbw"] = benchmark::Counter(size, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["busbw"] =
      benchmark::Counter(size * (ranks - 1) / ranks, benchmark::Counter::kIsIterationInvariantRate);
}

void communicatorAllGather(benchmark::State& state) {
  timeAllGather(state, [](const void* send, void* recv, size_t bytes) {
    communicator->allGather(send, recv, bytes);
  });
}

void mpiAllgather(benchmark::State& state) {
  timeAllGather(state, [](const void* send, void* recv, size_t bytes) {
    MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE,
                  MPI_COMM_WORLD);
  });
}

void registerSizes(const char* name, void (*function)(benchmark::State&)) {
  for (int64_t bytes = kMinBytes; bytes <= kMaxBytes; bytes *= 4) {
    benchmark::RegisterBenchmark(name, function)
        ->Arg(bytes)
        ->Iterations(iterationsFor(bytes))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

// Ranks other than 0 run every benchmark but print nothing.
class SilentReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  eleanor::MpiSession session(&argc, &argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  eleanor::setProcessIdentity({rank, size, 0, 1, eleanor::hostName()});
  eleanor::MpiCommunicator comm(/*timeoutSeconds=*/120);
  communicator = &comm;
  registerSizes("communicator_allgather", communicatorAllGather);
  registerSizes("mpi_allgather", mpiAllgather);
  benchmark::Initialize(&argc, argv);
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}

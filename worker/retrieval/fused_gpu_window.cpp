#include "worker/retrieval/fused_gpu_window.h"

#include <c10/core/impl/VirtualGuardImpl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "common/error.h"
#include "worker/retrieval/fused_topk.h"

namespace eleanor {
namespace {

std::atomic<int64_t> tileWindowCalls{0};
std::mutex lastKernelMutex;
std::string lastKernel;  // fusedTopKKernelName of the last tile

std::optional<FusedDtype> fusedDtype(at::ScalarType type) {
  if (type == at::kBFloat16) return FusedDtype::BFloat16;
  if (type == at::kHalf) return FusedDtype::Float16;
  return std::nullopt;
}

// A default kernel's switch: off when the variable is "0" or "off".
bool switchedOff(const char* variable) {
  const char* value = std::getenv(variable);
  return value != nullptr && (std::string(value) == "0" || std::string(value) == "off");
}

// ELEANOR_FUSED_SM90: the Hopper kernels are the default where they run (a 9.0 device, windows
// of up to 64); "0" or "off" turns them off, "smem" or "registers" forces one of them, "1"
// (or unset) takes the one for the dim (registers at D = 384).
FusedHopper hopperMode() {
  if (switchedOff("ELEANOR_FUSED_SM90")) return FusedHopper::Off;
  const char* value = std::getenv("ELEANOR_FUSED_SM90");
  const std::string mode = value == nullptr ? "1" : value;
  if (mode == "smem") return FusedHopper::SharedQueries;
  if (mode == "registers") return FusedHopper::RegisterQueries;
  return FusedHopper::Auto;
}

// Whether the environment asked for a Hopper kernel by name (not just left the default).
bool hopperAskedFor() {
  const char* value = std::getenv("ELEANOR_FUSED_SM90");
  return value != nullptr && hopperMode() != FusedHopper::Off;
}

// `scales`: an int8 tile's row scales (float32, one per row, same device), else undefined.
FusedTopKProblem problemFor(const at::Tensor& q, const at::Tensor& tile, int64_t keep,
                            const at::Tensor& scales = {}) {
  FusedTopKProblem problem;
  problem.dtype = fusedDtype(q.scalar_type()).value_or(FusedDtype::BFloat16);
  problem.queries = q.data_ptr();
  problem.rows = tile.data_ptr();
  problem.queryCount = q.size(0);
  problem.rowCount = tile.size(0);
  problem.dim = q.size(1);
  problem.keep = static_cast<int>(keep);
  problem.device = q.device().index();
  // LibTorch's default stream is the legacy NULL stream; fusedWindowUnsupported checks that it
  // is the current one (a LibTorch built without CUDA has no API for another stream's handle).
  problem.stream = nullptr;
  problem.fixedDimKernel = !switchedOff("ELEANOR_FUSED_FIXED_DIM");
  problem.hopper = hopperMode();
  // ELEANOR_FUSED_SM90_CLUSTER=2: the registers kernel as pairs of blocks sharing row loads.
  const char* cluster = std::getenv("ELEANOR_FUSED_SM90_CLUSTER");
  problem.hopperCluster = cluster != nullptr && std::string(cluster) == "2" ? 2 : 1;
  // ELEANOR_FUSED_FLOORS=1: the floor scan where the Hopper registers kernel serves.
  const char* floors = std::getenv("ELEANOR_FUSED_FLOORS");
  problem.floorScan = floors != nullptr && std::string(floors) == "1";
  if (tile.scalar_type() == at::kChar) {
    problem.int8Rows = true;
    problem.rowScales = scales.defined() ? scales.data_ptr<float>() : nullptr;
  }
  return problem;
}

std::string tensorsUnsupported(const at::Tensor& q, const at::Tensor& tile,
                               const at::Tensor& scales = {}) {
  if (!fusedTopKAvailable()) return "this build has no CUDA kernel";
  if (!q.is_cuda() || !tile.is_cuda() || q.device() != tile.device()) return "not on one GPU";
  if (tile.scalar_type() == at::kChar) {  // an int8 tile: float16 queries, float32 row scales
    if (q.scalar_type() != at::kHalf) return "int8 rows are scored against float16 queries";
    if (!scales.defined() || scales.scalar_type() != at::kFloat || scales.device() != q.device() ||
        !scales.is_contiguous() || scales.dim() != 1 || scales.size(0) != tile.size(0))
      return "int8 rows need their float32 scales on the same GPU";
  } else if (!fusedDtype(q.scalar_type()) || tile.scalar_type() != q.scalar_type()) {
    return "dtype is not bfloat16 or float16 for both";
  }
  if (q.dim() != 2 || tile.dim() != 2 || q.size(1) != tile.size(1)) return "shapes differ";
  if (!q.is_contiguous() || !tile.is_contiguous()) return "not contiguous";
  if (q.size(0) == 0) return "no queries";
  c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
  if (impl.getStream(q.device()) != impl.getDefaultStream(q.device()))
    return "the current CUDA stream is not the default stream";
  return "";
}

}  // namespace

std::vector<int64_t> fusedWindowKeeps(int k) {
  const auto roundUp = [](int64_t v) { return (v + 31) / 32 * 32; };
  std::vector<int64_t> keeps;
  for (const int64_t keep :
       {roundUp(2 * static_cast<int64_t>(k) + 32), roundUp(static_cast<int64_t>(k) + 32)}) {
    if (keep <= kFusedTopKMaxKeep && (keeps.empty() || keeps.back() != keep)) keeps.push_back(keep);
  }
  return keeps;
}

int64_t fusedWindowKeep(int k) {
  const std::vector<int64_t> keeps = fusedWindowKeeps(k);
  return keeps.empty() ? 0 : keeps.front();
}

// The kernel's limits do not depend on the rows: a probe with the queries standing in for a
// tile of `keep` rows (same device, dtype, width and alignment as a tile slice; int8 rows:
// their bytes and scales stand in too, never read).
FusedTopKProblem probeFor(const at::Tensor& q, int64_t keep, bool int8Rows) {
  FusedTopKProblem problem = problemFor(q, q, keep);
  problem.rowCount = std::max<int64_t>(keep, 1);
  problem.int8Rows = int8Rows;
  if (int8Rows) problem.rowScales = static_cast<const float*>(q.data_ptr());
  return problem;
}

std::string fusedWindowUnsupported(const at::Tensor& q, int64_t keep, bool int8Rows) {
  std::string why = tensorsUnsupported(q, q);
  if (!why.empty()) return why;
  return fusedTopKUnsupported(probeFor(q, keep, int8Rows));
}

std::string fusedWindowKernel(const at::Tensor& q, int64_t keep, bool int8Rows) {
  if (!tensorsUnsupported(q, q).empty()) return "";
  return fusedTopKKernelName(probeFor(q, keep, int8Rows));
}

std::tuple<at::Tensor, at::Tensor> fusedTileWindow(const at::Tensor& q, const at::Tensor& tile,
                                                   int64_t keep, const at::Tensor& scales) {
  std::string why = tensorsUnsupported(q, tile, scales);
  const FusedTopKProblem problem = problemFor(q, tile, keep, scales);
  // The workspace's size is 0 exactly where the kernel does not take the problem: one plan
  // here (fusedTopK makes its own), a second only to say why.
  const size_t bytes = why.empty() ? fusedTopKWorkspaceBytes(problem) : 0;
  if (why.empty() && bytes == 0) why = fusedTopKUnsupported(problem);
  ELEANOR_ASSERT(why.empty(), "fusedTileWindow on an unsupported tile: " + why);
  const at::Tensor workspace =
      at::empty({static_cast<int64_t>(bytes)}, q.options().dtype(at::kByte));
  at::Tensor values = at::empty({q.size(0), keep}, q.options().dtype(at::kFloat));
  at::Tensor rows = at::empty({q.size(0), keep}, q.options().dtype(at::kLong));
  const std::string kernel = fusedTopK(problem, 0, values.data_ptr<float>(),
                                       rows.data_ptr<int64_t>(), workspace.data_ptr(), bytes);
  ++tileWindowCalls;
  {
    const std::lock_guard<std::mutex> lock(lastKernelMutex);
    lastKernel = kernel;
  }
  if (hopperAskedFor() && kernel.rfind("sm90", 0) != 0) {
    static std::once_flag once;  // once per process: every search would say the same
    std::call_once(once, [&] {
      spdlog::warn(
          "ELEANOR_FUSED_SM90 is set, but the portable fused kernel serves this search: {}",
          fusedTopKHopperUnsupported(problem));
    });
  }
  if (problem.floorScan && kernel != "sm90-registers-floors") {
    static std::once_flag once;
    std::call_once(once, [&] {
      spdlog::warn("ELEANOR_FUSED_FLOORS=1, but {} serves this search without the floor scan: {}",
                   kernel, fusedTopKFloorScanUnsupported(problem));
    });
  }
  return {values, rows};
}

std::string fusedTileWindowPhases(const at::Tensor& q, const at::Tensor& tile, int64_t keep,
                                  const FusedScanVariant& variant, FusedScanPhases& out) {
  const std::string why = tensorsUnsupported(q, tile);
  if (!why.empty()) return why;
  return fusedTopKPhases(problemFor(q, tile, keep), variant, out);
}

int64_t fusedTileWindowCalls() {
  return tileWindowCalls.load();
}

std::string fusedTileWindowLastKernel() {
  const std::lock_guard<std::mutex> lock(lastKernelMutex);
  return lastKernel;
}

}  // namespace eleanor

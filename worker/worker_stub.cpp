// eleanor-worker: sets the threading environment (common/blas_core.h: OpenBLAS's kernels,
// OpenMP's wait policy, OpenBLAS's thread timeout) and then becomes the worker, eleanor-worker-bin
// from the same folder, with the same arguments and process id (so mpirun, srun and PMIx see one
// process). The worker makes the same choice itself when started directly, but only after LibTorch
// has loaded, and then has to start over: about 0.6 s more per rank on the build machine.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/blas_core.h"

int main(int /*argc*/, char** argv) {
  eleanor::chooseThreadingEnvironment();
  std::string path(4096, '\0');
  const ssize_t length = readlink("/proc/self/exe", path.data(), path.size());
  path.resize(length > 0 ? static_cast<size_t>(length) : 0);
  if (path.empty()) path = argv[0];
  path = path.substr(0, path.rfind('/') + 1) + "eleanor-worker-bin";
  execv(path.c_str(), argv);
  std::fprintf(stderr,
               "eleanor-worker: cannot start the worker '%s': %s (it is built next to "
               "eleanor-worker; rebuild with scripts/build.sh)\n",
               path.c_str(), std::strerror(errno));
  return 127;
}

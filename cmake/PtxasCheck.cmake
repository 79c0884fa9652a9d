# ctest's cuda.ptxas_sm90: compiles the Hopper scan kernels (worker/retrieval/cuda/
# fused_topk_sm90.cu) for sm_90a with ptxas reporting, and fails on what would make them slow
# without failing the build: ptxas's "Potential Performance Loss" notes (C75xx: wgmma
# serialised, setmaxnreg ignored), spills, local memory.
#   cmake -DNVCC=... -DSOURCE_DIR=... -DCUDA_INCLUDE=... -DOUT=... -P PtxasCheck.cmake
execute_process(
  COMMAND ${NVCC} -std=c++17 --generate-code=arch=compute_90a,code=sm_90a -Xptxas=-v
          -I${SOURCE_DIR} -I${CUDA_INCLUDE} -c ${SOURCE_DIR}/worker/retrieval/cuda/fused_topk_sm90.cu
          -o ${OUT}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nvcc failed (${rc}):\n${log}")
endif()
string(REGEX MATCHALL "[^\n]*(Potential Performance Loss|[1-9][0-9]* bytes spill|[1-9][0-9]* bytes stack frame)[^\n]*" problems "${log}")
if(problems)
  string(REPLACE ";" "\n" problems "${problems}")
  message(FATAL_ERROR "ptxas on the Hopper scan kernels:\n${problems}")
endif()
string(REGEX MATCHALL "Used [0-9]+ registers" used "${log}")
list(LENGTH used kernels)
list(JOIN used ", " used)
message(STATUS "ptxas: ${kernels} Hopper kernels, ${used}, no spills, no performance-loss notes")

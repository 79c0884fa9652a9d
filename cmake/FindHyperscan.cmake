# Finds Hyperscan (Debian: libhyperscan-dev) and defines Hyperscan::hs.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_HS QUIET libhs)
endif()
find_path(Hyperscan_INCLUDE_DIR hs.h PATH_SUFFIXES hs HINTS ${PC_HS_INCLUDE_DIRS})
find_library(Hyperscan_LIBRARY NAMES hs HINTS ${PC_HS_LIBRARY_DIRS})
set(Hyperscan_VERSION ${PC_HS_VERSION})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hyperscan
  REQUIRED_VARS Hyperscan_LIBRARY Hyperscan_INCLUDE_DIR
  VERSION_VAR Hyperscan_VERSION
  REASON_FAILURE_MESSAGE "install libhyperscan-dev (scripts/setup.sh does)")
if(Hyperscan_FOUND AND NOT TARGET Hyperscan::hs)
  add_library(Hyperscan::hs UNKNOWN IMPORTED)
  set_target_properties(Hyperscan::hs PROPERTIES
    IMPORTED_LOCATION "${Hyperscan_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Hyperscan_INCLUDE_DIR}")
endif()
mark_as_advanced(Hyperscan_INCLUDE_DIR Hyperscan_LIBRARY)

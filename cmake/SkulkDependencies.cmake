# The libraries we build on, all from Debian 12 packages (deployment/dev.sh
# installs them). Imported targets are normalised to skulk::dep::<name> where a
# package ships none or names it inconsistently.
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem system program_options)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(zstd REQUIRED)
find_package(cppzmq REQUIRED)
find_package(pugixml REQUIRED)
find_package(toml11 REQUIRED)
find_package(CURL REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)

# yaml-cpp 0.7 on Debian exports the plain `yaml-cpp` target; zstd exports
# libzstd_shared. Give both stable names.
if(NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp ALIAS yaml-cpp)
endif()
if(NOT TARGET zstd::zstd)
  if(TARGET zstd::libzstd_shared)
    add_library(zstd::zstd ALIAS zstd::libzstd_shared)
  else()
    add_library(zstd::zstd ALIAS libzstd_shared)
  endif()
endif()
# Debian 12's civetweb CMake package names a /usr/bin/civetweb it does not
# ship, so find_package(civetweb) fails; import the library directly.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h REQUIRED)
find_library(CIVETWEB_LIBRARY civetweb REQUIRED)
add_library(civetweb::civetweb UNKNOWN IMPORTED)
set_target_properties(civetweb::civetweb PROPERTIES
  IMPORTED_LOCATION ${CIVETWEB_LIBRARY} INTERFACE_INCLUDE_DIRECTORIES ${CIVETWEB_INCLUDE_DIR})

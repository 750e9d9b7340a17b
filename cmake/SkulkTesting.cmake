# skulk_add_gtest(<name> <sources...> LIBS <libs...>)
# A GoogleTest executable whose cases CTest runs one by one, from the
# repository root, with SKULK_SHARED_DIR and SKULK_BUILD_DIR in the
# environment so tests find ../shared/ data and the built binaries/plugins.
include(GoogleTest)
set(SKULK_SHARED_DIR ${CMAKE_SOURCE_DIR}/../shared CACHE PATH "The shared/ data folder (models, conformance)")
set(SKULK_TEST_ENV "SKULK_SHARED_DIR=${SKULK_SHARED_DIR};SKULK_BUILD_DIR=${CMAKE_BINARY_DIR};SKULK_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
function(skulk_add_gtest name)
  cmake_parse_arguments(T "" "TIMEOUT" "LIBS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main ${T_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/host ${CMAKE_SOURCE_DIR}/tests)
  gtest_discover_tests(${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT})
  # ENVIRONMENT is a list, and gtest_discover_tests splits its PROPERTIES at
  # every ';' (escaping does not survive its layers): only the first variable
  # would arrive. So set it from a file CTest includes after the discovered
  # tests, over the <name>_TESTS list that discovery defines.
  set(env_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_env.cmake)
  file(WRITE ${env_file} "foreach(t IN LISTS ${name}_TESTS)\n"
    "  set_tests_properties(\"\${t}\" PROPERTIES ENVIRONMENT [==[${SKULK_TEST_ENV}]==])\nendforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${env_file})
endfunction()

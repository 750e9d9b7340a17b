# skulk_add_child_folders()
# Every sub-folder with a CMakeLists.txt is one subsystem (or plugin, tool,
# benchmark or test group). Adding a folder is enough to build it; targets
# find each other by name, so the order does not matter.
function(skulk_add_child_folders)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child IN LISTS children)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()

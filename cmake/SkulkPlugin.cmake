# skulk_add_plugin(<name> <sources...> [LIBS <libs...>])
# One MODULE library per plugin, named lib<name>.so in bin/plugins/, built
# against the SDK headers only, with hidden visibility so that the single
# negotiation symbol is the plugin's whole surface.
function(skulk_add_plugin name)
  cmake_parse_arguments(P "" "" "LIBS" ${ARGN})
  add_library(${name} MODULE ${P_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE skulk::sdk ${P_LIBS})
  set_target_properties(${name} PROPERTIES
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON PREFIX "lib")
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
endfunction()

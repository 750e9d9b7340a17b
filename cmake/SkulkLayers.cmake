# skulk_check_layers(): the folders of host/ are layers, and a library may
# link only libraries of its own folder or of a lower layer. Called once at
# the end of the top-level CMakeLists.txt: a new back-edge (say cluster/
# linking worker/) stops the configure step with the edge named, so the
# picture in docs/architecture.md ("Layers") cannot silently go out of date.
# Plugins may link only the SDK, their own folder's targets and
# SKULK_PLUGIN_MAY_LINK.
#
# Layers, lowest first; folders in one layer must not link each other.
set(SKULK_LAYERS
  "common quant"
  "log"
  "config state eventlog gguf sampling chat_template"
  "tokenizer plugin cards"
  "placement telemetry engine"
  "master pipeline"
  "cluster"
  "runner placing"
  "worker"
  "api"
  "daemon tools")
# Host folders a plugin may compile in (pure code, no host state): the GGUF
# block layouts the CPU kernels share with the reference dequantizer.
set(SKULK_PLUGIN_MAY_LINK "host/quant")

function(_skulk_folder_of target out)
  get_target_property(aliased ${target} ALIASED_TARGET)
  if(aliased)
    set(target ${aliased})
  endif()
  get_target_property(dir ${target} SOURCE_DIR)
  file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${dir})
  set(${out} ${rel} PARENT_SCOPE)
endfunction()

function(_skulk_rank_of folder out)
  set(rank -1)
  set(i 0)
  foreach(layer IN LISTS SKULK_LAYERS)
    string(REPLACE " " ";" members "${layer}")
    foreach(m IN LISTS members)
      if(folder STREQUAL "host/${m}" OR folder MATCHES "^host/${m}/")
        set(rank ${i})
      endif()
    endforeach()
    math(EXPR i "${i} + 1")
  endforeach()
  set(${out} ${rank} PARENT_SCOPE)
endfunction()

function(_skulk_targets_below dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _skulk_targets_below(${sub} more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(skulk_check_layers)
  _skulk_targets_below(${CMAKE_SOURCE_DIR} targets)
  set(errors "")
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY|EXECUTABLE|INTERFACE_LIBRARY)$")
      continue()
    endif()
    _skulk_folder_of(${t} from)
    if(type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(links ${t} INTERFACE_LINK_LIBRARIES)
    else()
      get_target_property(links ${t} LINK_LIBRARIES)
    endif()
    if(NOT links)
      continue()
    endif()
    string(REGEX MATCH "^(host|plugins)/[^/]+" from_folder "${from}")
    if(NOT from_folder)
      continue() # tests, bench, sdk: free to link what they exercise
    endif()
    _skulk_rank_of(${from_folder} from_rank)
    if(from_folder MATCHES "^host/" AND from_rank EQUAL -1)
      string(APPEND errors "\n  ${from_folder} (target ${t}) is in no layer: add it to SKULK_LAYERS")
      continue()
    endif()
    foreach(l IN LISTS links)
      if(NOT TARGET ${l})
        continue() # a system library or flag
      endif()
      _skulk_folder_of(${l} to)
      string(REGEX MATCH "^(host|plugins|sdk)/?[^/]*" to_folder "${to}")
      if(NOT to_folder OR to_folder STREQUAL from_folder OR to_folder MATCHES "^sdk")
        continue() # third-party, own folder, or the SDK (everyone may use it)
      endif()
      if(from_folder MATCHES "^plugins/" AND to_folder IN_LIST SKULK_PLUGIN_MAY_LINK)
        continue()
      endif()
      if(from_folder MATCHES "^plugins/")
        string(APPEND errors "\n  ${t} (${from_folder}) links ${l} (${to_folder}): plugins link only the SDK and ${SKULK_PLUGIN_MAY_LINK}")
        continue()
      endif()
      _skulk_rank_of(${to_folder} to_rank)
      if(to_rank EQUAL -1 OR NOT to_rank LESS from_rank)
        string(APPEND errors "\n  ${t} (${from_folder}, layer ${from_rank}) links ${l} (${to_folder}, layer ${to_rank})")
      endif()
    endforeach()
  endforeach()
  if(errors)
    message(FATAL_ERROR "Dependencies against the layers (cmake/SkulkLayers.cmake, docs/architecture.md \"Layers\"):${errors}")
  endif()
endfunction()

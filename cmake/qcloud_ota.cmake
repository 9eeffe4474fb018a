# qcloud-ota's CMake logic, shared by the top-level CMakeLists.txt and the Zephyr module
# (zephyr/CMakeLists.txt): which Rust target a CPU needs, and building libqcloud_ota.a with cargo.
#
#   qcloud_ota_rust_target(<out-var> <cpu> <hard-float: ON|OFF>)
#       <cpu> as GCC's -mcpu or CMAKE_SYSTEM_PROCESSOR spells it, any case, "+feature" suffixes
#       ignored (cortex-m0, cortex-m0plus, cortex-m1, cortex-m3, cortex-m4, cortex-m7, cortex-m23,
#       cortex-m33, cortex-m35p, cortex-m52, cortex-m55, cortex-m85). Sets <out-var> to the
#       triple, or to "" when there is no mapping.
#
#   qcloud_ota_add_cargo_library(<name> TARGET <triple-or-empty> BINARY_DIR <dir>
#                                [FEATURES <comma,list>] [CARGO <exe>] [NO_LOG]
#                                [HOST_MQTT] [NO_BUILTIN_MQTT] [READBACK])
#       An INTERFACE library <name> that carries include/ and libqcloud_ota.a, built by cargo in
#       <dir>/cargo before anything that links <name>. A "-none" triple builds without std (and
#       without the built-in TLS) from the plain build (the built-in MQTT session, the engine,
#       the journal, the HTTP download), with the cargo features asked for on top:
#         NO_LOG           leaves the log lines out (cargo feature `log` otherwise)
#         HOST_MQTT        the host-MQTT bridge: OTA_FLAG_HOST_MQTT, ota_mqtt_* (`host-mqtt`)
#         NO_BUILTIN_MQTT  host MQTT only, the built-in session left out (`host-mqtt-only`,
#                          implies HOST_MQTT)
#         READBACK         read-back verification, OTA_FLAG_READBACK_VERIFY (`readback`)
#       Hosted triples build the default features (every capability: the Linux demos and tests
#       use them all); NO_LOG and NO_BUILTIN_MQTT apply there too.
#       Sets QCLOUD_OTA_LIBRARY (the .a) in the caller's scope.
#
#   qcloud_ota_feature_options(<out-var> <log> <host-mqtt> <builtin-mqtt> <readback>)
#       The four build switches (CMake booleans: ON/OFF, or Kconfig's y/empty) as the options
#       above, for qcloud_ota_add_cargo_library: one mapping for the CMake options and Kconfig.

set(QCLOUD_OTA_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." CACHE INTERNAL "qcloud-ota source tree")

function(qcloud_ota_rust_target out cpu hard_float)
  string(TOLOWER "${cpu}" _cpu)
  string(REGEX REPLACE "\\+.*$" "" _cpu "${_cpu}") # Zephyr's GCC_M_CPU: cortex-m33+nodsp
  if(hard_float)
    set(_abi "eabihf")
  else()
    set(_abi "eabi") # soft and softfp both use the soft-float calling convention
  endif()
  set(_t "")
  if(_cpu MATCHES "^cortex-m0(plus|\\+)?$" OR _cpu STREQUAL "cortex-m1")
    set(_t "thumbv6m-none-eabi")
  elseif(_cpu STREQUAL "cortex-m3")
    set(_t "thumbv7m-none-eabi")
  elseif(_cpu MATCHES "^cortex-m(4|7)f?$")
    set(_t "thumbv7em-none-${_abi}")
  elseif(_cpu STREQUAL "cortex-m23")
    set(_t "thumbv8m.base-none-eabi")
  elseif(_cpu MATCHES "^cortex-m(33|35p|52|55|85)$")
    set(_t "thumbv8m.main-none-${_abi}")
  endif()
  set(${out} "${_t}" PARENT_SCOPE)
endfunction()

function(qcloud_ota_feature_options out log host_mqtt builtin_mqtt readback)
  set(_o "")
  if(NOT log)
    list(APPEND _o NO_LOG)
  endif()
  if(host_mqtt)
    list(APPEND _o HOST_MQTT)
  endif()
  if(NOT builtin_mqtt)
    list(APPEND _o NO_BUILTIN_MQTT)
  endif()
  if(readback)
    list(APPEND _o READBACK)
  endif()
  set(${out} "${_o}" PARENT_SCOPE)
endfunction()

function(qcloud_ota_add_cargo_library name)
  cmake_parse_arguments(A "NO_LOG;HOST_MQTT;NO_BUILTIN_MQTT;READBACK"
                        "TARGET;BINARY_DIR;FEATURES;CARGO" "" ${ARGN})
  if(NOT A_CARGO)
    find_program(QCLOUD_OTA_CARGO cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin"
                 DOC "cargo, to build libqcloud_ota.a")
    if(NOT QCLOUD_OTA_CARGO)
      message(FATAL_ERROR "qcloud-ota: cargo not found; install Rust (https://rustup.rs) or set QCLOUD_OTA_CARGO")
    endif()
    set(A_CARGO "${QCLOUD_OTA_CARGO}")
  endif()
  set(_src "${QCLOUD_OTA_SOURCE_DIR}")
  set(_cargo_dir "${A_BINARY_DIR}/cargo")
  set(_args build --release --lib --target-dir "${_cargo_dir}")
  if(A_TARGET)
    list(APPEND _args --target "${A_TARGET}")
    set(_lib "${_cargo_dir}/${A_TARGET}/release/libqcloud_ota.a")
  else()
    set(_lib "${_cargo_dir}/release/libqcloud_ota.a")
  endif()
  # Bare-metal targets have no std: build the no_std core and the features asked for.
  set(_bare OFF)
  set(_features "")
  if(A_TARGET MATCHES "-none(-|$)")
    set(_bare ON)
    list(APPEND _args --no-default-features)
    if(NOT A_NO_LOG)
      list(APPEND _features log)
    endif()
    if(A_HOST_MQTT)
      list(APPEND _features host-mqtt)
    endif()
    if(A_READBACK)
      list(APPEND _features readback)
    endif()
  elseif(A_NO_LOG)
    list(APPEND _args --no-default-features)
    list(APPEND _features std tls host-mqtt readback)
  endif()
  if(A_NO_BUILTIN_MQTT)
    list(APPEND _features host-mqtt-only)
  endif()
  if(A_FEATURES)
    list(APPEND _features "${A_FEATURES}")
  endif()
  if(_features)
    string(REPLACE ";" "," _features "${_features}")
    list(APPEND _args --features "${_features}")
  endif()
  message(STATUS "qcloud-ota: ${_lib}")
  string(REPLACE ";" " " _shown "${_args}")
  message(STATUS "qcloud-ota: cargo ${_shown}")

  # The zephyr-lang-rust pattern: the custom command's OUTPUT is never created, so it runs on
  # every build and cargo decides what is stale (a no-op build takes a fraction of a second).
  # BYPRODUCTS tells Ninja the .a comes from here, so a clean tree knows how to make it.
  set(_stamp "${A_BINARY_DIR}/${name}_cargo_always_run")
  add_custom_command(
    OUTPUT "${_stamp}"
    BYPRODUCTS "${_lib}"
    COMMAND "${A_CARGO}" ${_args}
    WORKING_DIRECTORY "${_src}"
    COMMENT "cargo build qcloud-ota (${_lib})"
    USES_TERMINAL
    VERBATIM)
  add_custom_target(${name}_cargo DEPENDS "${_stamp}")
  set_source_files_properties("${_stamp}" PROPERTIES SYMBOLIC TRUE)

  add_library(${name} INTERFACE)
  target_include_directories(${name} INTERFACE "${_src}/include")
  target_link_libraries(${name} INTERFACE "${_lib}")

  # What a Rust std staticlib needs from the system on a hosted target, as reported by
  # `cargo rustc --release --lib -- --print native-static-libs` on x86_64-unknown-linux-gnu:
  # gcc_s util rt pthread m dl c. (libc and libgcc_s come with every gcc/clang link anyway.)
  if(NOT _bare)
    if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
      target_link_libraries(${name} INTERFACE util rt pthread m dl)
    elseif(UNIX)
      # Not measured here: check `cargo rustc --release --lib -- --print native-static-libs`.
      target_link_libraries(${name} INTERFACE pthread m)
    endif()
  endif()

  # Make everything that links <name> wait for cargo. CMake >= 3.19 follows dependencies of an
  # INTERFACE library; older versions need a real (empty) library in the link chain to carry it.
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
    add_dependencies(${name} ${name}_cargo)
  else()
    set(_order_src "${A_BINARY_DIR}/${name}_build_order.c")
    file(WRITE "${_order_src}" "/* Orders the cargo build before anything that links ${name}. */\ntypedef int qcloud_ota_build_order;\n")
    add_library(${name}_build_order STATIC "${_order_src}")
    add_dependencies(${name}_build_order ${name}_cargo)
    target_link_libraries(${name} INTERFACE ${name}_build_order)
  endif()
  set(QCLOUD_OTA_LIBRARY "${_lib}" PARENT_SCOPE)
endfunction()

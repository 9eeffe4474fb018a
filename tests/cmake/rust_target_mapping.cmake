# cmake -P tests/cmake/rust_target_mapping.cmake: every CPU spelling the root CMakeLists.txt
# (CMAKE_SYSTEM_PROCESSOR) and the Zephyr module (GCC_M_CPU) may pass maps to the right Rust
# target. Run by tests/build_checks.rs.
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/qcloud_ota.cmake")

set(_failures 0)
function(expect cpu hard_float want)
  qcloud_ota_rust_target(got "${cpu}" ${hard_float})
  if(NOT got STREQUAL want)
    message(SEND_ERROR "${cpu} (hard float ${hard_float}): got '${got}', want '${want}'")
  endif()
endfunction()

expect(cortex-m0 OFF thumbv6m-none-eabi)
expect(cortex-m0plus OFF thumbv6m-none-eabi)
expect(cortex-m1 OFF thumbv6m-none-eabi)
expect(cortex-m3 OFF thumbv7m-none-eabi)
expect(Cortex-M3 OFF thumbv7m-none-eabi)
expect(cortex-m4 ON thumbv7em-none-eabihf)
expect(cortex-m4 OFF thumbv7em-none-eabi)
expect(Cortex-M4 ON thumbv7em-none-eabihf)
expect(cortex-m7 ON thumbv7em-none-eabihf)
expect(cortex-m23 OFF thumbv8m.base-none-eabi)
expect(cortex-m33 ON thumbv8m.main-none-eabihf)
expect(cortex-m33+nodsp OFF thumbv8m.main-none-eabi)
expect(cortex-m55+nomve ON thumbv8m.main-none-eabihf)
expect(cortex-a53 OFF "")
expect(riscv32 OFF "")

# CMake toolchain file for Cortex-M with GNU Arm Embedded (arm-none-eabi-gcc, newlib-nano).
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=<qcloud-ota>/cmake/arm-none-eabi.cmake -DMCU_CPU=cortex-m4 ...
#
# MCU_CPU (default cortex-m4) becomes CMAKE_SYSTEM_PROCESSOR, from which qcloud-ota's CMake picks
# the Rust target: cortex-m4/m7 get the hard-float ABI (thumbv7em-none-eabihf), cortex-m3
# thumbv7m-none-eabi, cortex-m0/m0plus thumbv6m-none-eabi, cortex-m33 thumbv8m.main-none-eabihf.
set(CMAKE_SYSTEM_NAME Generic)
if(NOT MCU_CPU)
  set(MCU_CPU cortex-m4)
endif()
set(CMAKE_SYSTEM_PROCESSOR ${MCU_CPU})
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MCU_CPU)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY) # no startup code for a test executable

if(MCU_CPU MATCHES "^cortex-m(4|7)$")
  set(_fpu "-mfloat-abi=hard -mfpu=fpv4-sp-d16")
  if(MCU_CPU STREQUAL "cortex-m7")
    set(_fpu "-mfloat-abi=hard -mfpu=fpv5-d16")
  endif()
elseif(MCU_CPU MATCHES "^cortex-m(33|55)$")
  set(_fpu "-mfloat-abi=hard -mfpu=fpv5-sp-d16")
else()
  set(_fpu "-mfloat-abi=soft")
endif()
set(CMAKE_C_FLAGS_INIT "-mcpu=${MCU_CPU} -mthumb ${_fpu} -ffunction-sections -fdata-sections")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# mbedtls.cmake: mbedTLS 2.28 as a static library `mbedtls_ota`, configured by
# mbedtls_config_ota.h, for the host or a Cortex-M (whatever compiler the including project
# uses: a Cortex-M4F toolchain file sets -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard
# -mthumb, or set MBEDTLS_OTA_CPU_FLAGS to them).
#
#   include(path/to/c_examples/freertos/mbedtls.cmake)
#   target_link_libraries(firmware PRIVATE mbedtls_ota)   # also gives the include dirs and
#                                                         # MBEDTLS_CONFIG_FILE to tls_mbedtls.c
#
# The sources are mbedTLS's own library/*.c, unmodified, from the crate mbedtls-sys-auto
# (vendor/) pinned by c_examples/freertos/sources/Cargo.lock: `cargo fetch --locked` brings it
# and `cargo metadata` says where it is (never built as Rust). Set MBEDTLS_OTA_SOURCE_DIR (the
# directory holding include/ and library/) to use another copy of mbedTLS 2.28 instead.
#
# MBEDTLS_OTA_USER_CONFIG names a header of project changes to mbedtls_config_ota.h (it becomes
# MBEDTLS_USER_CONFIG_FILE, e.g. a smaller MBEDTLS_SSL_IN_CONTENT_LEN for servers that honour
# max_fragment_length).

# string(JSON) needs CMake 3.19. No cmake_minimum_required() here: in an included file it would
# reset the including project's policies.
if(CMAKE_VERSION VERSION_LESS 3.19)
    message(FATAL_ERROR "mbedtls.cmake needs CMake 3.19 or newer")
endif()

set(MBEDTLS_OTA_DIR "${CMAKE_CURRENT_LIST_DIR}")
set(MBEDTLS_OTA_CPU_FLAGS "" CACHE STRING "Extra compile flags for mbedTLS (e.g. the Cortex-M4F ones)")
set(MBEDTLS_OTA_USER_CONFIG "" CACHE FILEPATH
    "A header of project changes to mbedtls_config_ota.h (MBEDTLS_USER_CONFIG_FILE)")

include("${MBEDTLS_OTA_DIR}/sources/sources.cmake")

if(NOT MBEDTLS_OTA_SOURCE_DIR)
    # The pinned mbedtls-sys-auto carries mbedTLS under vendor/.
    firmware_sources(mbedtls-sys-auto crate)
    set(MBEDTLS_OTA_SOURCE_DIR "${crate}/vendor" CACHE PATH "mbedTLS 2.28 (include/, library/)")
endif()
if(NOT EXISTS "${MBEDTLS_OTA_SOURCE_DIR}/library/ssl_tls.c")
    message(FATAL_ERROR "no mbedTLS sources in ${MBEDTLS_OTA_SOURCE_DIR}")
endif()

if(NOT TARGET mbedtls_ota)
    # Every module; the ones mbedtls_config_ota.h leaves out compile to nothing.
    file(GLOB MBEDTLS_OTA_SOURCES CONFIGURE_DEPENDS "${MBEDTLS_OTA_SOURCE_DIR}/library/*.c")
    add_library(mbedtls_ota STATIC ${MBEDTLS_OTA_SOURCES})
    target_include_directories(mbedtls_ota SYSTEM PUBLIC "${MBEDTLS_OTA_SOURCE_DIR}/include")
    target_include_directories(mbedtls_ota PUBLIC "${MBEDTLS_OTA_DIR}")
    target_compile_definitions(mbedtls_ota PUBLIC "MBEDTLS_CONFIG_FILE=\"mbedtls_config_ota.h\"")
    if(MBEDTLS_OTA_USER_CONFIG)
        target_compile_definitions(mbedtls_ota PUBLIC
                                   "MBEDTLS_USER_CONFIG_FILE=\"${MBEDTLS_OTA_USER_CONFIG}\"")
    endif()
    separate_arguments(cpu_flags NATIVE_COMMAND "${MBEDTLS_OTA_CPU_FLAGS}")
    target_compile_options(mbedtls_ota PRIVATE ${cpu_flags} -ffunction-sections -fdata-sections)
    set_target_properties(mbedtls_ota PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
endif()

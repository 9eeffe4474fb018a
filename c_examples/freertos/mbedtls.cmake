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

# The unpacked directory of the pinned mbedtls-sys-auto, from cargo metadata.
function(mbedtls_ota_locate out)
    set(manifest "${MBEDTLS_OTA_DIR}/sources/Cargo.toml")
    find_program(MBEDTLS_OTA_CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)
    execute_process(COMMAND "${MBEDTLS_OTA_CARGO}" fetch --locked --manifest-path "${manifest}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "cargo fetch --locked for ${manifest} failed:\n${err}")
    endif()
    execute_process(COMMAND "${MBEDTLS_OTA_CARGO}" metadata --format-version 1 --locked
                            --manifest-path "${manifest}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "cargo metadata for ${manifest} failed:\n${err}")
    endif()
    string(JSON n LENGTH "${json}" packages)
    math(EXPR last "${n} - 1")
    foreach(i RANGE ${last})
        string(JSON name GET "${json}" packages ${i} name)
        if(name STREQUAL "mbedtls-sys-auto")
            string(JSON path GET "${json}" packages ${i} manifest_path)
            get_filename_component(crate "${path}" DIRECTORY)
            set(${out} "${crate}/vendor" PARENT_SCOPE)
            return()
        endif()
    endforeach()
    message(FATAL_ERROR "mbedtls-sys-auto is not in ${manifest}'s dependency graph")
endfunction()

if(NOT MBEDTLS_OTA_SOURCE_DIR)
    mbedtls_ota_locate(found)
    set(MBEDTLS_OTA_SOURCE_DIR "${found}" CACHE PATH "mbedTLS 2.28 (include/, library/)")
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

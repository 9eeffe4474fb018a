# The unpacked directories of the firmware's source crates (this folder's Cargo.toml, pinned by
# its Cargo.lock): `cargo fetch --locked`, then each crate's directory from `cargo metadata`.
#
#   firmware_sources(<crate> <out-var> [<crate> <out-var> ...])
#
# Sets each <out-var> in the caller's scope to the directory holding that crate's Cargo.toml.
# Needs CMake 3.19 (string(JSON)).
set(FIRMWARE_SOURCES_MANIFEST "${CMAKE_CURRENT_LIST_DIR}/Cargo.toml")

function(firmware_sources)
    find_program(FIRMWARE_SOURCES_CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)
    set(manifest "${FIRMWARE_SOURCES_MANIFEST}")
    execute_process(COMMAND "${FIRMWARE_SOURCES_CARGO}" fetch --locked --manifest-path "${manifest}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "cargo fetch --locked for ${manifest} failed:\n${err}")
    endif()
    execute_process(COMMAND "${FIRMWARE_SOURCES_CARGO}" metadata --format-version 1 --locked
                            --manifest-path "${manifest}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "cargo metadata for ${manifest} failed:\n${err}")
    endif()
    string(JSON n LENGTH "${json}" packages)
    math(EXPR last "${n} - 1")
    set(wanted ${ARGN})
    while(wanted)
        list(POP_FRONT wanted crate var)
        set(found "")
        foreach(i RANGE ${last})
            string(JSON name GET "${json}" packages ${i} name)
            if(name STREQUAL crate)
                string(JSON path GET "${json}" packages ${i} manifest_path)
                get_filename_component(found "${path}" DIRECTORY)
                break()
            endif()
        endforeach()
        if(NOT IS_DIRECTORY "${found}")
            message(FATAL_ERROR "${crate} is not in ${manifest}'s dependency graph")
        endif()
        set(${var} "${found}" PARENT_SCOPE)
    endwhile()
endfunction()

//! Build-level checks: the no_std core cross-compiles for Cortex-M, and the C header is clean C99.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the release static library for a Cortex-M4F with no std at all (the full MCU build:
/// every optional feature, so every header function is in it); returns its path.
fn build_thumb_lib() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "build",
            "--lib",
            "--release",
            "--no-default-features",
            "--features",
            "log,host-mqtt,readback",
        ])
        .args(["--target", "thumbv7em-none-eabihf"])
        .args(["--target-dir", "target/cross"])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "thumbv7em-none-eabihf build failed (is the target installed? scripts/setup.sh adds it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root().join("target/cross/thumbv7em-none-eabihf/release/libqcloud_ota.a")
}

/// The core is `no_std` without a heap: it must build for a Cortex-M4F with no std at all.
#[test]
fn core_builds_for_thumbv7em_without_std() {
    assert!(build_thumb_lib().is_file());
}

fn rustc_output(args: &[&str]) -> String {
    let out = Command::new("rustc")
        .args(args)
        .output()
        .expect("run rustc");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// No panic path in the firmware formats its message: `core::fmt` (integer Display, padding,
/// char counting, the panic Locations) costs ~8 KiB of a 32 KiB flash budget. Linked the way a
/// firmware does (every `ota_*` function of the header kept, `--gc-sections`) with the linker
/// rustup ships; on failure the symbols say which code brought it back (bench/flash_report.py
/// and `arm-none-eabi-objdump -d` show the callers).
#[test]
fn thumb_link_has_no_core_fmt() {
    let lib = build_thumb_lib();
    let host = rustc_output(&["-vV"])
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string();
    let sysroot = rustc_output(&["--print", "sysroot"]);
    let lld = Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/rust-lld"));
    let header = std::fs::read_to_string(root().join("include/qcloud_ota.h")).unwrap();
    let mut functions: Vec<&str> = header
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '('))
        .filter_map(|w| w.strip_prefix("ota_")?.strip_suffix('('))
        .collect();
    functions.sort_unstable();
    functions.dedup();
    assert!(
        functions.len() > 10,
        "ota_* functions in the header: {functions:?}"
    );
    let elf = root().join("target/cross/fmt-check.elf");
    let mut link = Command::new(&lld);
    link.args(["-flavor", "gnu", "--gc-sections", "-o"])
        .arg(&elf);
    for f in &functions {
        link.arg(format!("--undefined=ota_{f}"));
    }
    let out = link.arg(&lib).output().expect("run rust-lld");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("readelf")
        .args(["-sW"])
        .arg(&elf)
        .output()
        .expect("run readelf");
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(symbols.contains("ota_poll"), "readelf: {symbols}");
    let fmt: Vec<&str> = symbols.lines().filter(|l| l.contains("core3fmt")).collect();
    assert!(fmt.is_empty(), "core::fmt is linked in again: {fmt:#?}");
}

/// Every declaration of the header compiles with the strictest usual flags, in C and C++.
#[test]
fn header_compiles_with_werror() {
    let header = root().join("include/qcloud_ota.h");
    for (lang, std) in [("c", "-std=c99"), ("c++", "-std=c++11")] {
        let out = Command::new(if lang == "c" { "gcc" } else { "g++" })
            .args([
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                std,
                "-x",
                lang,
            ])
            .arg(&header)
            .output()
            .expect("run gcc");
        assert!(
            out.status.success(),
            "{lang}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every function, callback type, struct and constant in the header carries a doc comment.
#[test]
fn header_documents_every_item() {
    let text = std::fs::read_to_string(root().join("include/qcloud_ota.h")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_item = line.starts_with("#define OTA_")
            || line.starts_with("typedef ")
            || (line.contains("ota_")
                && line.contains('(')
                && !line.starts_with(' ')
                && !line.starts_with("typedef"));
        if !is_item {
            continue;
        }
        let prev = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        if !prev.trim_end().ends_with("*/") {
            undocumented.push(*line);
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented header items: {undocumented:#?}"
    );
}

/// The CPU -> Rust target mapping shared by CMakeLists.txt and the Zephyr module
/// (cmake/qcloud_ota.cmake), for every spelling either passes.
#[test]
fn cmake_maps_every_cortex_m_to_its_rust_target() {
    let out = Command::new("cmake")
        .arg("-P")
        .arg(root().join("tests/cmake/rust_target_mapping.cmake"))
        .output()
        .expect("run cmake");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Zephyr module's CMake, configured with Zephyr's two functions stubbed (Zephyr itself
/// cannot be installed here): a Cortex-M4F board with the hard-float ABI gets the
/// thumbv7em-none-eabihf archive, and a Cortex-M33 without DSP the thumbv8m.main one.
#[test]
fn zephyr_module_cmake_picks_the_board_cpu_target() {
    for (cpu, want) in [
        ("cortex-m4", "thumbv7em-none-eabihf/release/libqcloud_ota.a"),
        (
            "cortex-m33+nodsp",
            "thumbv8m.main-none-eabihf/release/libqcloud_ota.a",
        ),
    ] {
        let dir = root().join("target/zephyr-module-check").join(cpu);
        let out = Command::new("cmake")
            .arg("-S")
            .arg(root().join("tests/cmake/zephyr_module"))
            .arg("-B")
            .arg(&dir)
            .arg(format!("-DCHECK_GCC_M_CPU={cpu}"))
            .output()
            .expect("run cmake");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(want), "{cpu}: expected {want}:\n{text}");
        assert!(text.contains("--no-default-features"), "{text}");
        // The Kconfig defaults map onto the cargo features: log lines, nothing else on top.
        assert!(text.contains("--features log\n"), "{text}");
    }
}

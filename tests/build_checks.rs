//! Build-level checks: the no_std core cross-compiles for Cortex-M, and the C header is clean C99.
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The core is `no_std` without a heap: it must build for a Cortex-M4F with no std at all.
#[test]
fn core_builds_for_thumbv7em_without_std() {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["build", "--lib", "--release", "--no-default-features"])
        .args(["--target", "thumbv7em-none-eabihf"])
        .args(["--target-dir", "target/cross"])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "thumbv7em-none-eabihf build failed (is the target installed? scripts/setup.sh adds it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

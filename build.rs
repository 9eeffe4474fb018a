//! Generates the C header from `src/error/codes.rs` and `src/ffi/` into `OUT_DIR`.
//! The checked-in copy in `include/` is compared against it by the tests; `scripts/gen-header.sh`
//! refreshes it.
use std::{env, path::PathBuf};

/// The files that declare what C sees, in the header's order. Each is read on its own (cbindgen
/// looks for a top file's `mod x;` beside it, not in `src/ffi/`).
const FFI_SOURCES: [&str; 6] = [
    "src/error/codes.rs",
    "src/ffi/constants.rs",
    "src/ffi/api.rs",
    "src/ffi/config.rs",
    "src/ffi/callbacks.rs",
    "src/ffi/gate.rs",
];

fn main() {
    // src/ffi.rs too: scripts/gen-header.sh touches it to force a run.
    println!("cargo:rerun-if-changed=src/ffi.rs");
    for f in FFI_SOURCES {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=QCLOUD_OTA_WRITE_HEADER");
    // The built-in TLS never believes a clock earlier than this (src/tls.rs). SOURCE_DATE_EPOCH
    // makes it reproducible.
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let built = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=QCLOUD_OTA_BUILD_UNIX_S={built}");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("out dir")).join("qcloud_ota.h");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut header = Vec::new();
    let mut builder = cbindgen::Builder::new().with_config(config);
    for f in FFI_SOURCES {
        builder = builder.with_src(root.join(f));
    }
    builder
        .generate()
        .expect("cbindgen could not read src/ffi/")
        .write(&mut header);
    let header = String::from_utf8(header).expect("UTF-8 header");
    std::fs::write(&out, parenthesize_negative_defines(&header)).expect("write header");
    if env::var_os("QCLOUD_OTA_WRITE_HEADER").is_some() {
        std::fs::copy(&out, root.join("include/qcloud_ota.h")).expect("write include/qcloud_ota.h");
    }
}

/// `#define X -1` becomes `#define X (-1)`, so `a-X` cannot turn into `a--1`.
fn parenthesize_negative_defines(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 256);
    for line in header.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(v)) if v.starts_with('-') => {
                out.push_str(&format!("#define {name} ({v})"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

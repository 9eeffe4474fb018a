//! Generates the C header from `src/ffi.rs` into `OUT_DIR`. The checked-in copy in `include/`
//! is compared against it by the tests; `scripts/gen-header.sh` refreshes it.
use std::{env, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=QCLOUD_OTA_WRITE_HEADER");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("out dir")).join("qcloud_ota.h");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi.rs")
        .write_to_file(&out);
    if env::var_os("QCLOUD_OTA_WRITE_HEADER").is_some() {
        std::fs::copy(&out, root.join("include/qcloud_ota.h")).expect("write include/qcloud_ota.h");
    }
}

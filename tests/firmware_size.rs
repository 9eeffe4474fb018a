//! What the library costs a Cortex-M firmware: built without std for thumbv7em-none-eabihf
//! (Cortex-M4F) and thumbv7m-none-eabi (Cortex-M3) with log lines (what CMake builds for a
//! bare-metal target by default), linked with `arm-none-eabi-gcc
//! --gc-sections` into a firmware stub that keeps every `ota_*` function
//! (`bench/flash_report.py`), and the library's share of .text/.rodata/.data/.bss printed.
//!
//! The design's budget is 32 KiB of flash for the whole engine (MQTT + HTTP + OTA + MD5 + JSON);
//! the test fails if either target's share is over it.
mod common;
use std::process::Command;

use common::programs::root;

/// The design's flash budget for the whole engine (MQTT + HTTP + OTA + MD5 + JSON).
const FLASH_BUDGET: u64 = 32 * 1024;

fn library_share(cpu: &str, triple: &str) -> [u64; 5] {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["build", "--lib", "--release", "--no-default-features"])
        .args(["--features", "log"])
        .args(["--target", triple, "--target-dir", "target/cross"])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "{triple} build failed (scripts/setup.sh adds the target):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = root().join(format!("target/cross/{triple}/release/libqcloud_ota.a"));
    let report = Command::new("python3")
        .arg(root().join("bench/flash_report.py"))
        .arg("--lib")
        .arg(&lib)
        .arg("--header")
        .arg(root().join("include/qcloud_ota.h"))
        .arg("--out")
        .arg(root().join(format!("target/flash-report/{triple}")))
        .args(["--cpu", cpu])
        .output()
        .expect("run python3 bench/flash_report.py");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "flash_report.py failed (arm-none-eabi-gcc comes from scripts/setup.sh):\n{text}{}",
        String::from_utf8_lossy(&report.stderr)
    );
    println!("{text}");
    // "| **library share (difference)** | text | rodata | data | bss | **flash (x KiB)** |"
    let row = text
        .lines()
        .find(|l| l.starts_with("| **library share"))
        .expect("library share row");
    let nums: Vec<u64> = row
        .split('|')
        .skip(2)
        .filter_map(|c| {
            c.trim()
                .trim_start_matches("**")
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(nums.len(), 5, "unexpected row: {row}");
    [nums[0], nums[1], nums[2], nums[3], nums[4]]
}

#[test]
fn library_share_of_a_cortex_m_firmware() {
    let mut summary = Vec::new();
    for (cpu, triple) in [
        ("cortex-m4", "thumbv7em-none-eabihf"),
        ("cortex-m3", "thumbv7m-none-eabi"),
    ] {
        let [text, rodata, data, bss, flash] = library_share(cpu, triple);
        summary.push(format!(
            "{triple}: .text {text} .rodata {rodata} .data {data} .bss {bss} = flash {flash} \
             bytes ({:.1} KiB): {} the {} KiB budget",
            flash as f64 / 1024.0,
            if flash <= FLASH_BUDGET {
                "within"
            } else {
                "OVER"
            },
            FLASH_BUDGET / 1024
        ));
        assert!(
            flash <= FLASH_BUDGET,
            "{triple}: the library's flash share is {flash} bytes, over the {FLASH_BUDGET}-byte \
             budget (72.2 KiB before the size work, 48.5 KiB before the second round)"
        );
    }
    println!("{}", summary.join("\n"));
}

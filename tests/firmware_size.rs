//! What the library costs a Cortex-M firmware, per build profile: built without std for
//! thumbv7em-none-eabihf (Cortex-M4F; the plain build also for thumbv7m-none-eabi, Cortex-M3),
//! linked with `arm-none-eabi-gcc --gc-sections` into a firmware stub that keeps every `ota_*`
//! function the build has (`bench/flash_report.py`), and the library's share of
//! .text/.rodata/.data/.bss printed.
//!
//! Budgets (issue 13): the plain MCU build (`--no-default-features`: the built-in MQTT session,
//! the engine, the journal, the HTTP download) at most 30 KiB, leaving room for what comes next;
//! a build for firmware that only uses host MQTT (`host-mqtt-only`) its own, smaller budget;
//! every optional feature on top of the plain build prints its cost, and the full MCU build (all
//! of them) stays within the design's 32 KiB. All builds share `target/cross`; the whole test
//! took 15-75 s on the shared two-core machine (nearly all of it the seven LTO builds).
mod common;
use std::process::Command;

use common::programs::root;

/// The plain MCU build: the built-in MQTT session, the engine, the journal, the HTTP download.
const PLAIN_BUDGET: u64 = 30 * 1024;
/// Firmware that only uses host MQTT: no MQTT codec, session or login signing.
const HOST_ONLY_BUDGET: u64 = 26 * 1024;
/// The design's budget for everything an MCU build can have (log + host-mqtt + readback).
const FULL_BUDGET: u64 = 32 * 1024;

/// The entry points of the host-MQTT bridge: absent from builds without `host-mqtt` (the
/// header says which feature provides them), so the stub does not reference them there.
const HOST_MQTT_ENTRY_POINTS: &str = "^ota_mqtt_|^ota_update_topic$";

struct Profile {
    name: &'static str,
    features: &'static str,
    budget: Option<u64>,
}

const PROFILES: [Profile; 6] = [
    Profile {
        name: "plain",
        features: "",
        budget: Some(PLAIN_BUDGET),
    },
    Profile {
        name: "host MQTT only",
        features: "host-mqtt-only",
        budget: Some(HOST_ONLY_BUDGET),
    },
    Profile {
        name: "plain + log",
        features: "log",
        budget: None,
    },
    Profile {
        name: "plain + host-mqtt",
        features: "host-mqtt",
        budget: None,
    },
    Profile {
        name: "plain + readback",
        features: "readback",
        budget: None,
    },
    Profile {
        name: "full MCU",
        features: "log,host-mqtt,readback",
        budget: Some(FULL_BUDGET),
    },
];

/// Builds the library with `features` on top of `--no-default-features` and returns its share
/// of a firmware: .text, .rodata, .data, .bss, flash (text + rodata + data).
fn library_share(cpu: &str, triple: &str, name: &str, features: &str) -> [u64; 5] {
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(root())
        .args(["build", "--lib", "--release", "--no-default-features"])
        .args(["--target", triple, "--target-dir", "target/cross"]);
    if !features.is_empty() {
        build.args(["--features", features]);
    }
    let out = build.output().expect("run cargo");
    assert!(
        out.status.success(),
        "{triple} [{features}] build failed (scripts/setup.sh adds the target):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = root().join(format!("target/cross/{triple}/release/libqcloud_ota.a"));
    let dir: Vec<&str> = name.split([' ', '+']).filter(|w| !w.is_empty()).collect();
    let dir = dir.join("_");
    let mut report = Command::new("python3");
    report
        .arg(root().join("bench/flash_report.py"))
        .arg("--lib")
        .arg(&lib)
        .arg("--header")
        .arg(root().join("include/qcloud_ota.h"))
        .arg("--out")
        .arg(root().join(format!("target/flash-report/{triple}/{dir}")))
        .args(["--cpu", cpu]);
    if !features.contains("host-mqtt") {
        report.args(["--exclude", HOST_MQTT_ENTRY_POINTS]);
    }
    let report = report.output().expect("run python3 bench/flash_report.py");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "flash_report.py failed (arm-none-eabi-gcc comes from scripts/setup.sh):\n{text}{}",
        String::from_utf8_lossy(&report.stderr)
    );
    // The full report for the plain build; one line for the others.
    if features.is_empty() {
        println!("{text}");
    }
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
fn library_share_of_a_cortex_m_firmware_per_profile() {
    let mut rows = Vec::new();
    let mut over = Vec::new();
    let mut plain = 0;
    let runs = PROFILES
        .iter()
        .map(|p| ("cortex-m4", "thumbv7em-none-eabihf", p))
        .chain([("cortex-m3", "thumbv7m-none-eabi", &PROFILES[0])]);
    for (cpu, triple, p) in runs {
        let [text, rodata, data, bss, flash] = library_share(cpu, triple, p.name, p.features);
        if p.features.is_empty() && triple.starts_with("thumbv7em") {
            plain = flash;
        }
        let cost = match p.budget {
            None => format!(
                "costs {:+} bytes on top of plain",
                flash as i64 - plain as i64
            ),
            Some(b) if flash <= b => format!("within the {b}-byte budget"),
            Some(b) => {
                over.push(format!("{triple} {}: {flash} bytes > {b}", p.name));
                format!("OVER the {b}-byte budget")
            }
        };
        rows.push(format!(
            "{triple} {:<18} [{}]: .text {text} .rodata {rodata} .data {data} .bss {bss} = \
             flash {flash} bytes ({:.1} KiB): {cost}",
            p.name,
            p.features,
            flash as f64 / 1024.0,
        ));
    }
    println!("{}", rows.join("\n"));
    assert!(
        over.is_empty(),
        "over budget (32 KiB before issue 13 split the profiles; 48.5 KiB before the second \
         round of size work): {over:?}"
    );
}

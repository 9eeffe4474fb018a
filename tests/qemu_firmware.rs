//! The library as firmware: the bare-metal C firmware of `c_examples/mps2-an386` (built through
//! CMake for the Cortex-M4F, so the library comes from the thumbv7em-none-eabihf mapping) runs in
//! QEMU's mps2-an386, tunnels its sockets over UART0 to the bench's bridge
//! (`qcloud_ota_standin::uart_bridge`), and updates a 1 MiB image against a real mosquitto and
//! the stand-in: offer, download, MD5, bootable, a real system reset into the new version, `done`.
//! The slot it dumps back must be byte-identical to the served image. The same firmware built
//! for the Cortex-M3 (thumbv7m-none-eabi) does the same on QEMU's mps2-an385 with a 64 KiB image.
//!
//! QEMU is required (scripts/setup.sh installs qemu-system-arm): a missing QEMU fails the test.
mod common;
use std::time::{Duration, Instant};

use common::SECRET;
use common::programs::mcu_firmware;
use qcloud_ota_standin::generate_image;
use qcloud_ota_standin::uart_bridge::{BridgeReport, FirmwareRun, run_firmware};

/// The budget for the engine's RAM on Cortex-M (DESIGN.md): client + buffers + deepest stack.
const RAM_BUDGET: u64 = 8 * 1024;

/// What one firmware update in QEMU showed.
struct Update {
    out: BridgeReport,
    log: String,
}

/// Build the firmware for `cpu` (CMake must map it to `triple`), run it on `machine` against
/// mosquitto and the stand-in offering an image of `size` bytes, and check the whole update:
/// done on 2.0.0 after one reset, exactly one `done`, no fail, no deviation, the slot dumped
/// back byte-identical, no damaged frame either way.
fn update_in_qemu(cpu: &str, triple: &str, machine: &str, size: usize, dn: &str) -> Update {
    let build = mcu_firmware(cpu);
    let cache = std::fs::read_to_string(build.join("CMakeCache.txt")).unwrap();
    assert!(
        cache.contains(&format!("{triple}/release/libqcloud_ota.a")),
        "CMake maps {cpu} to {triple}"
    );
    let image = generate_image(size, 386);
    let pid = "QEMUMPS201";
    let (broker, cloud) = common::cloud_with_task(pid, dn, image.clone(), |_| {});

    let started = Instant::now();
    let run = FirmwareRun {
        machine: machine.into(),
        kernel: build.join("firmware.elf"),
        config: [
            ("product_id", pid),
            ("device_name", dn),
            ("device_secret", SECRET),
            ("broker_host", "127.0.0.1"),
            ("broker_port", &broker.port().to_string()),
            ("version", "1.0.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        limit: Duration::from_secs(240),
        verbose: std::env::var_os("OTA_TEST_VERBOSE").is_some(),
    };
    let out = run_firmware(&run).unwrap_or_else(|e| panic!("firmware run failed: {e}"));
    let took = started.elapsed();
    let log = out.logs.join("\n");

    assert_eq!(
        out.end,
        Some((0, "2.0.0".to_string())),
        "the firmware must end with the update done, running 2.0.0:\n{log}"
    );
    assert_eq!(out.boots, 2, "one reset into the new image:\n{log}");
    assert!(
        cloud.wait_completed(Duration::from_secs(10)),
        "stand-in never saw the task complete:\n{log}"
    );
    let report = cloud.stop();
    common::assert_done_once(&report);
    assert_eq!(out.dump.len(), image.len(), "dumped slot size");
    assert!(
        out.dump == image,
        "the slot the firmware wrote differs from the served image"
    );
    assert_eq!(out.frame_errors, 0, "bridge saw damaged frames");
    assert_eq!(
        out.figure("link_errors"),
        Some(0),
        "firmware saw damaged frames:\n{log}"
    );
    println!(
        "qemu {machine}: {} KiB update in {:.1} s ({} bytes down, {} up over the UART link, {} \
         requests)",
        size >> 10,
        took.as_secs_f64(),
        out.bytes_down,
        out.bytes_up,
        out.requests.values().sum::<u64>()
    );
    Update { out, log }
}

#[test]
fn mps2_an386_firmware_updates_a_1_mib_image_over_its_uart() {
    let Update { out, log } = update_in_qemu(
        "cortex-m4",
        "thumbv7em-none-eabihf",
        "mps2-an386",
        1 << 20,
        "mps2-an386",
    );
    let stack_init = out.figure("stack_ota_init_max").expect("stack figure");
    let stack_ota = out.figure("stack_ota_poll_max").expect("stack figure");
    let stack_total = out.figure("stack_total_max").expect("stack figure");
    let client = out.figure("ota_client_size").expect("client size");
    let buffers = out.figure("buffers").expect("buffer size");
    let ram = client + buffers + stack_ota;
    let ram_init = client + buffers + stack_init.max(stack_ota);
    println!(
        "stack: deepest ota_poll incl. the platform callbacks it called and any exception frame \
         on top: {stack_ota} bytes (ota_init: {stack_init}; whole firmware: {stack_total})"
    );
    let verdict = |r: u64| if r <= RAM_BUDGET { "within" } else { "OVER" };
    println!(
        "RAM: ota_client {client} (sizeof, OTA_CLIENT_SIZE_32) + buffers {buffers} + deepest \
         stack {} (ota_poll {stack_ota}, ota_init {stack_init}) = {ram_init} bytes ({} the \
         {RAM_BUDGET} budget; while running: {ram}, {})",
        stack_init.max(stack_ota),
        verdict(ram_init),
        verdict(ram)
    );
    // The design's budget, met since the client is built in place and the deepest frames were
    // cut (README "Firmware"): a regression guard on the running figure.
    assert!(
        ram <= RAM_BUDGET,
        "RAM while running {ram} bytes is over the {RAM_BUDGET} budget:\n{log}"
    );
}

/// The same firmware for a Cortex-M3 (CMake maps cortex-m3 to thumbv7m-none-eabi) on QEMU's
/// mps2-an385: the whole update as on the Cortex-M4, with a 64 KiB image to keep it short (the
/// emulated UART moves 20-33 KiB/s).
#[test]
fn mps2_an385_cortex_m3_firmware_updates_a_64_kib_image_over_its_uart() {
    update_in_qemu(
        "cortex-m3",
        "thumbv7m-none-eabi",
        "mps2-an385",
        64 << 10,
        "mps2-an385",
    );
}

//! The heap a TLS update costs: a whole update (MQTT over TLS to mosquitto's TLS listener, a
//! 1 MiB image over HTTPS from the stand-in, verification, reboot, `done`) through the library's
//! built-in TLS, with a global allocator that tracks the bytes live on this thread while library
//! code runs (the test platform's own code is excluded through its hook). The peak is printed
//! (`cargo test --test tls_heap -- --nocapture`) and published in the README; without TLS the
//! figure is 0 (tests/zero_alloc.rs).
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::{StdPlatform, tls_cloud_with_task};
use qcloud_ota::client::{Buffers, Client, Config};
use qcloud_ota::link::{MIN_TLS_RX, TlsSetup};
use qcloud_ota::platform::EventKind;
use qcloud_ota_standin::generate_image;

/// The budget the README states; the measured peak must stay under it.
const PEAK_BOUND: usize = 96 * 1024;

struct Counting;
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    if COUNTING.with(Cell::get) {
        let live = LIVE.with(|l| {
            l.set(l.get() + delta);
            l.get()
        });
        PEAK.with(|p| p.set(p.get().max(live)));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn peak() -> usize {
    PEAK.with(Cell::get).max(0) as usize
}

fn run_until(client: &mut Client<'_, StdPlatform>, kind: EventKind, limit: Duration) {
    let start = Instant::now();
    while !client.platform().saw(kind) {
        assert!(
            start.elapsed() < limit,
            "no {kind:?} within {limit:?}: {:?}",
            client.platform().events
        );
        let ms = client.poll();
        std::thread::sleep(Duration::from_millis(u64::from(ms.min(2))));
    }
}

#[test]
fn heap_peak_of_a_tls_update() {
    let image = generate_image(1 << 20, 8);
    let (bench, cloud) = tls_cloud_with_task("TLSHEAP001", "dev-heap", image.clone(), |_| {});
    let ca = std::fs::read(bench.pki.ca_path()).unwrap();

    let (mut rx, mut tx, mut http) = ([0u8; 2048], [0u8; 1024], [0u8; 8192]);
    let mut tls = vec![0u8; 2 * MIN_TLS_RX];
    let mut cfg = Config::new("TLSHEAP001", "dev-heap", common::SECRET, "1.0.0");
    cfg.broker_host = Some("localhost");
    cfg.broker_port = bench.mqtt_tls_port();
    cfg.mqtt_tls = true;
    cfg.net_poll_ms = 2;

    counting(true);
    let mut client = Client::with_tls(
        &cfg,
        Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        },
        TlsSetup {
            buf: &mut tls,
            ca: &ca,
        },
        StdPlatform::new().with_hook(counting),
    )
    .expect("init");
    run_until(&mut client, EventKind::ImageReady, Duration::from_secs(60));
    client.shutdown();
    let platform = client.into_platform();
    counting(false);
    assert_eq!(platform.slot, image, "slot is byte-identical");
    assert!(platform.bootable);

    // The reboot: the same flash and record, the new running version, a fresh TLS start.
    cfg.running_version = "2.0.0";
    counting(true);
    let mut client = Client::with_tls(
        &cfg,
        Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        },
        TlsSetup {
            buf: &mut tls,
            ca: &ca,
        },
        platform,
    )
    .expect("init after reboot");
    run_until(&mut client, EventKind::Done, Duration::from_secs(30));
    client.shutdown();
    drop(client);
    counting(false);

    assert!(cloud.wait_completed(Duration::from_secs(10)));
    let report = cloud.stop();
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .http_first_bytes
            .iter()
            .all(|b| b.first() == Some(&0x16)),
        "the download was HTTPS"
    );
    let peak = peak();
    println!("heap peak of a TLS update (MQTT/TLS + HTTPS, built-in rustls): {peak} bytes");
    assert!(peak > 0, "the counter saw the TLS allocations");
    assert!(
        peak < PEAK_BOUND,
        "heap peak {peak} bytes over {PEAK_BOUND}"
    );
    drop(bench);
}

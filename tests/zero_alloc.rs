//! The library allocates nothing: a whole update (offer, 1 MiB download, verification, reboot,
//! `done`) against a real mosquitto and the stand-in, with a global allocator that counts every
//! allocation made on this thread while library code runs (the test platform's own code is
//! excluded through its hook; the stand-in runs on other threads).
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::{SECRET, StdPlatform};
use qcloud_ota::client::{Buffers, Client, Config};
use qcloud_ota::platform::EventKind;
use qcloud_ota_standin::generate_image;

struct Counting;
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Per thread, so tests running in parallel cannot add to each other's count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn run_until(client: &mut Client<'_, StdPlatform>, kind: EventKind, limit: Duration) {
    let start = Instant::now();
    while !client.platform().saw(kind) {
        assert!(start.elapsed() < limit, "no {kind:?} within {limit:?}");
        let ms = client.poll();
        std::thread::sleep(Duration::from_millis(u64::from(ms.min(2))));
    }
}

#[test]
fn a_whole_update_allocates_nothing() {
    let image = generate_image(1 << 20, 7);
    let (broker, cloud) = common::cloud_with_task("ZEROALLOC1", "dev-zero", image.clone(), |_| {});

    let (mut rx, mut tx, mut http) = ([0u8; 2048], [0u8; 1024], [0u8; 8192]);
    let mut cfg = Config::new("ZEROALLOC1", "dev-zero", SECRET, "1.0.0");
    cfg.broker_host = Some("127.0.0.1");
    cfg.broker_port = broker.port();
    cfg.net_poll_ms = 2;

    counting(true);
    let bufs = Buffers {
        mqtt_rx: &mut rx,
        mqtt_tx: &mut tx,
        http: &mut http,
    };
    let mut client = Client::new(&cfg, bufs, StdPlatform::new().with_hook(counting)).expect("init");
    run_until(&mut client, EventKind::ImageReady, Duration::from_secs(60));
    client.shutdown();
    let platform = client.into_platform();
    counting(false);
    assert_eq!(platform.slot, image, "slot is byte-identical");
    assert!(platform.bootable);

    // The reboot: the same flash and record, the new running version.
    cfg.running_version = "2.0.0";
    counting(true);
    let bufs = Buffers {
        mqtt_rx: &mut rx,
        mqtt_tx: &mut tx,
        http: &mut http,
    };
    let mut client = Client::new(&cfg, bufs, platform).expect("init after reboot");
    run_until(&mut client, EventKind::Done, Duration::from_secs(30));
    client.shutdown();
    counting(false);

    assert_eq!(allocations(), 0, "the library allocated");
    assert!(cloud.wait_completed(Duration::from_secs(10)));
    let report = cloud.stop();
    assert!(report.is_clean(), "{report}");
    drop(broker);
}

/// The counter works: an allocation on this thread while counting is seen.
#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    counting(true);
    let v: Vec<u8> = Vec::with_capacity(16);
    counting(false);
    drop(v);
    assert!(allocations() > before);
}

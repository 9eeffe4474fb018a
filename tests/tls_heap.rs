//! The heap a TLS update costs: a whole update (MQTT over TLS to mosquitto's TLS listener, a
//! 1 MiB image over HTTPS from the stand-in, verification, reboot, `done`) through the library's
//! built-in TLS, with a global allocator that tracks the bytes live on this thread while library
//! code runs (the test platform's own code is excluded through its hook). The peak is printed
//! (`cargo test --test tls_heap -- --nocapture`) and published in the README; without TLS the
//! figure is 0 (tests/zero_alloc.rs). The sizes of the blocks live at the peak are printed too;
//! with `TLS_HEAP_TRACE=1` also the stack that allocated each (how the README's account of the
//! peak was found).
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{StdPlatform, tls_cloud_with_task};
use qcloud_ota::client::{Buffers, Client, Config};
use qcloud_ota::link::{MIN_TLS_RX, TlsSetup};
use qcloud_ota::platform::EventKind;
use qcloud_ota_standin::generate_image;

/// The budget the README states; the measured peak must stay under it (a little above the
/// measured figure, so a regression shows).
const PEAK_BOUND: usize = 30 * 1024;

/// A block the library allocated: its size, and with `TLS_HEAP_TRACE` set the stack that
/// allocated it (resolved only when printed).
#[derive(Clone)]
struct Block {
    size: usize,
    stack: Option<Arc<Backtrace>>,
}

struct Counting;
static TRACE: AtomicBool = AtomicBool::new(false);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Inside the tracker's own bookkeeping, whose allocations are not the library's.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static BLOCKS: RefCell<HashMap<usize, Block>> = RefCell::new(HashMap::new());
    /// The blocks live when the peak was reached.
    static AT_PEAK: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Run the tracker's bookkeeping, unless it is already running.
fn bookkeeping(f: impl FnOnce()) {
    if !BUSY.with(|b| b.replace(true)) {
        f();
        BUSY.with(|b| b.set(false));
    }
}

fn allocated(ptr: *mut u8, size: usize) {
    if ptr.is_null() || !COUNTING.with(Cell::get) {
        return;
    }
    bookkeeping(|| {
        let stack = TRACE
            .load(Ordering::Relaxed)
            .then(|| Arc::new(Backtrace::force_capture()));
        BLOCKS.with(|b| b.borrow_mut().insert(ptr as usize, Block { size, stack }));
        let live = LIVE.with(|l| {
            l.set(l.get() + size);
            l.get()
        });
        if live > PEAK.with(Cell::get) {
            PEAK.with(|p| p.set(live));
            let blocks = BLOCKS.with(|b| b.borrow().values().cloned().collect());
            AT_PEAK.with(|p| *p.borrow_mut() = blocks);
        }
    });
}

fn freed(ptr: *mut u8) {
    // Only a thread with blocks of the library's live has a table (others may be ending).
    if LIVE.with(Cell::get) == 0 {
        return;
    }
    bookkeeping(|| {
        let block = BLOCKS.try_with(|b| b.borrow_mut().remove(&(ptr as usize)));
        if let Ok(Some(b)) = block {
            LIVE.with(|l| l.set(l.get() - b.size));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let ptr = unsafe { System.alloc(layout) };
        allocated(ptr, layout.size());
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        freed(ptr);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            freed(ptr);
            allocated(new, new_size);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

/// The blocks live at the peak, largest first; with `TLS_HEAP_TRACE` each with the frames of
/// the library, rustls, webpki and ring that allocated it.
fn print_peak_blocks(blocks: &mut [Block]) {
    blocks.sort_by_key(|b| std::cmp::Reverse(b.size));
    let sizes: Vec<String> = blocks.iter().map(|b| b.size.to_string()).collect();
    println!("blocks live at the peak: {}", sizes.join(" "));
    for b in blocks.iter() {
        let Some(stack) = &b.stack else { continue };
        println!("--- {} bytes", b.size);
        let stack = stack.to_string();
        let ours = ["qcloud_ota::", "rustls", "webpki", "ring::"];
        let frames = stack
            .lines()
            .filter(|l| !l.trim_start().starts_with("at ") && ours.iter().any(|o| l.contains(o)));
        for frame in frames.take(6) {
            println!("{frame}");
        }
    }
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
    TRACE.store(
        std::env::var_os("TLS_HEAP_TRACE").is_some(),
        Ordering::Relaxed,
    );
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
            ..TlsSetup::default()
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
            ..TlsSetup::default()
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
    let peak = PEAK.with(Cell::get);
    let mut blocks = AT_PEAK.with(|p| p.take());
    println!("heap peak of a TLS update (MQTT/TLS + HTTPS, built-in rustls): {peak} bytes");
    print_peak_blocks(&mut blocks);
    assert!(peak > 0, "the counter saw the TLS allocations");
    assert_eq!(
        blocks.iter().map(|b| b.size).sum::<usize>(),
        peak,
        "the blocks account for the peak"
    );
    assert!(
        peak < PEAK_BOUND,
        "heap peak {peak} bytes over {PEAK_BOUND}"
    );
    drop(bench);
}

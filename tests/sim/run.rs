//! One seeded run: the device boots, updates through faults and power cuts, and the invariants
//! are checked on the way and at the end.

use qcloud_ota::auth::SignMethod;
use qcloud_ota::client::{Buffers, Client, Config};
use qcloud_ota::engine::Policy;

use super::host::{self, HostCfg, HostLink, HostStats};
use super::rng::Rng;
use super::world::{BROKER, Ctx, DEVICE, Faults, NEW, PRODUCT, SECRET, SimPlatform, Stats, World};

/// Virtual time a run may take before it counts as not converging.
const LIMIT_MS: u64 = 3 * 3600 * 1000;
const MAX_POLLS: u64 = 2_000_000;

#[derive(Clone, Debug)]
pub struct DeviceCfg {
    pub mqtt_rx: usize,
    pub mqtt_tx: usize,
    pub http: usize,
    pub keepalive_s: u16,
    pub ack_timeout_ms: u32,
    pub net_poll_ms: u32,
    pub policy: Policy,
    /// Longest jump of the virtual clock between two polls.
    pub step_cap_ms: u64,
    pub sign: SignMethod,
    /// The host sometimes defers an offer (manual acceptance) before accepting it.
    pub defer_prob: f64,
    /// Bring-your-own MQTT: the host's behaviour (`None`: the built-in client).
    pub host: Option<HostCfg>,
    /// `Config::module`.
    pub module: Option<String>,
}

impl DeviceCfg {
    /// A plain configuration for scenarios.
    pub fn plain() -> DeviceCfg {
        DeviceCfg {
            mqtt_rx: 1024,
            mqtt_tx: 512,
            http: 1024,
            keepalive_s: 60,
            ack_timeout_ms: 5000,
            net_poll_ms: 50,
            policy: Policy {
                max_attempts: 10,
                stall_timeout_ms: 10_000,
                journal_interval: 4096,
                ..Policy::default()
            },
            step_cap_ms: 500,
            sign: SignMethod::HmacSha256,
            defer_prob: 0.0,
            host: None,
            module: None,
        }
    }

    fn draw(r: &mut Rng) -> DeviceCfg {
        DeviceCfg {
            mqtt_rx: r.range(1024, 2048) as usize,
            mqtt_tx: r.range(512, 1024) as usize,
            http: r.range(1024, 8192) as usize,
            keepalive_s: 60,
            ack_timeout_ms: r.range(2000, 10_000) as u32,
            net_poll_ms: *[20u32, 50, 100, 250, 500].get(r.below(5) as usize).unwrap(),
            policy: Policy {
                manual_accept: r.chance(0.25),
                manual_confirm: r.chance(0.25),
                slot_size: if r.chance(0.5) { 0 } else { 512 * 1024 },
                max_attempts: 10,
                progress_interval_ms: 1000,
                stall_timeout_ms: r.range(5000, 20_000) as u32,
                journal_interval: r.range(1024, 16_384) as u32,
                readback_verify: r.chance(0.5),
            },
            step_cap_ms: r.range(100, 2000),
            sign: if r.chance(0.5) {
                SignMethod::HmacSha256
            } else {
                SignMethod::HmacSha1
            },
            defer_prob: if r.chance(0.5) { 0.0 } else { 0.3 },
            host: None,
            module: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub stats: Stats,
    pub image_len: usize,
    pub virtual_ms: u64,
    pub dones: u32,
    pub trace: Vec<String>,
    /// Host MQTT mode: what the host's connection went through.
    pub host: Option<HostStats>,
    pub host_acks: bool,
}

pub struct Failure {
    pub msg: String,
    pub trace: Vec<String>,
}

/// The image size for a seed: log-uniform 10 KB .. 300 KB.
/// A quarter of them padded to a multiple of 64 bytes, as flash images often are.
fn image_len(r: &mut Rng) -> usize {
    let n = r.log_uniform(10_000.0, 300_000.0) as usize;
    if r.chance(0.25) { n & !63 } else { n }
}

/// One seed; `host_mqtt`: in bring-your-own MQTT mode (the same draws, plus the host's).
pub fn run_seed(seed: u64, host_mqtt: bool, tracing: bool) -> Result<Outcome, Failure> {
    let mut r = Rng::new(seed);
    let mut dev = DeviceCfg::draw(&mut r);
    let fx = Faults::draw(&mut r);
    let n = image_len(&mut r);
    let image = r.bytes(n);
    let world_rng = Rng::new(r.next_u64());
    if host_mqtt {
        dev.host = Some(HostCfg::draw(&mut r, fx.mqtt_break_mean_ms));
        dev.module = r.chance(0.4).then(|| "mcu".to_string());
    }
    run_scenario(seed, dev, fx, image, world_rng, tracing, |_| {})
}

/// Run with `setup` applied to the world first (scenarios switch checks on or off there).
pub fn run_scenario(
    seed: u64,
    dev: DeviceCfg,
    fx: Faults,
    image: Vec<u8>,
    rng: Rng,
    tracing: bool,
    setup: impl FnOnce(&mut Ctx),
) -> Result<Outcome, Failure> {
    let image_len = image.len();
    let mut x = Ctx::new(seed, rng, fx, image, tracing);
    x.dev_mqtt_rx = dev.mqtt_rx;
    x.manual_accept = dev.policy.manual_accept;
    x.manual_confirm = dev.policy.manual_confirm;
    x.host = dev.host.clone().map(HostLink::new);
    x.dev_module = dev.module.clone();
    setup(&mut x);
    let summary = format!("device {dev:?}\nfaults {:?}\nimage {image_len} bytes", x.fx);
    x.trace(|| summary.clone());
    let mut world = Box::new(World {
        conns: Vec::new(),
        x,
        keepalive_s: dev.keepalive_s,
    });
    let empty = dev.host.as_ref().is_some_and(|h| h.empty_mqtt_bufs);
    let mut rx = vec![0u8; if empty { 0 } else { dev.mqtt_rx }];
    let mut tx = vec![0u8; if empty { 0 } else { dev.mqtt_tx }];
    let mut http = vec![0u8; dev.http];
    let mut after_cut = false;
    let mut polls: u64 = 0;
    let mut zero_steps = 0u32;

    let fail = |w: &World, msg: String| -> Failure {
        let mut m = format!("seed {seed}: {msg}");
        for v in &w.x.violations {
            m.push_str(&format!("\n  violation: {v}"));
        }
        m.push_str(&format!(
            "\n  state: t={} boot={} running={} cuts={} dones={} allowed_extra={} complete={} slot_written={}/{}",
            w.x.now,
            w.x.boot,
            w.x.running,
            w.x.stats.power_cuts,
            w.x.cloud.dones,
            w.x.cloud.allowed_extra_dones,
            w.x.cloud.complete,
            w.x.flash.slot_written,
            image_len
        ));
        if let Some(h) = &w.x.host {
            m.push_str(&format!(
                "\n  host: up={} told_up={} subscribed={} conn={} {:?}",
                h.up, h.told_up, h.subscribed, h.conn, h.stats
            ));
        }
        Failure {
            msg: m,
            trace: w.x.trace.iter().cloned().collect(),
        }
    };

    loop {
        world.boot(after_cut);
        let running = world.x.running.clone();
        let mut cfg = Config::new(PRODUCT, DEVICE, SECRET, &running);
        cfg.broker_host = Some(BROKER);
        cfg.keepalive_s = dev.keepalive_s;
        cfg.ack_timeout_ms = dev.ack_timeout_ms;
        cfg.net_poll_ms = dev.net_poll_ms;
        cfg.sign_method = dev.sign;
        cfg.policy = dev.policy;
        cfg.host_mqtt = dev.host.is_some();
        cfg.module = dev.module.as_deref();
        let bufs = Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        };
        let mut client = match Client::new(&cfg, bufs, SimPlatform { w: world }) {
            Ok(c) => c,
            Err(e) => panic!("seed {seed}: Client::new failed: {e:?}"),
        };
        let mut cut = false;
        let mut converged = false;
        loop {
            let ms = client.poll();
            polls += 1;
            let w = &mut client.platform().w;
            w.x.stats.polls = polls;
            if !w.x.violations.is_empty() {
                let w = client.into_platform().w;
                return Err(fail(&w, "invariant violated".into()));
            }
            if w.x.dead {
                cut = true;
                break;
            }
            if w.x.running == NEW && w.x.cloud.complete {
                converged = true;
                break;
            }
            if w.x.now > LIMIT_MS + 1_000_000 || polls > MAX_POLLS {
                let w = client.into_platform().w;
                return Err(fail(&w, format!("did not converge ({polls} polls)")));
            }
            if w.x.reboot_at.is_some_and(|t| w.x.now >= t) {
                break;
            }
            // The host's decisions.
            if w.x.accept_at.is_some_and(|t| w.x.now >= t) {
                w.x.accept_at = None;
                if w.x.rng.chance(dev.defer_prob) {
                    let d = w.x.rng.range(1000, 60_000) as u32;
                    w.x.trace(|| format!("host defers the offer by {d} ms"));
                    let _ = client.defer(d);
                } else {
                    let r = client.accept();
                    client
                        .platform()
                        .w
                        .x
                        .trace(|| format!("host accepts: {r:?}"));
                }
                continue;
            }
            if w.x.confirm_at.is_some_and(|t| w.x.now >= t) {
                w.x.confirm_at = None;
                let r = client.confirm();
                client
                    .platform()
                    .w
                    .x
                    .trace(|| format!("host confirms: {r:?}"));
                continue;
            }
            // Advance the clock like a select()-based host: until the library wants to be
            // called again or bytes arrive, whichever comes first.
            let now = w.x.now;
            let mut dt = u64::from(ms).min(dev.step_cap_ms);
            for t in [
                w.next_event(),
                w.x.next_cut_at,
                w.x.reboot_at,
                w.x.accept_at,
                w.x.confirm_at,
            ]
            .into_iter()
            .flatten()
            {
                dt = dt.min(t.saturating_sub(now));
            }
            if dt == 0 {
                zero_steps += 1;
                if zero_steps > 100_000 {
                    let w = client.into_platform().w;
                    return Err(fail(&w, "livelock: poll keeps returning 0".into()));
                }
                if zero_steps.is_multiple_of(1000) {
                    dt = 1;
                }
            } else {
                zero_steps = 0;
            }
            w.x.now += dt;
            if w.x.next_cut_at.is_some_and(|t| w.x.now >= t) {
                w.x.die("timer");
                w.x.schedule_cut();
                cut = true;
                break;
            }
            w.step_all();
            host::step(&mut client);
        }
        if converged {
            // Let the dust settle: nothing more may be reported.
            let until = client.platform().w.x.now + 20_000;
            while client.platform().w.x.now < until {
                let ms = client.poll();
                let w = &mut client.platform().w;
                let dt = u64::from(ms).clamp(1, 1000);
                w.x.now += dt;
                w.step_all();
                host::step(&mut client);
            }
            let w = client.into_platform().w;
            return finish(w, image_len, &fail);
        }
        if !cut && client.platform().w.x.rng.chance(0.5) {
            client.shutdown();
        }
        world = client.into_platform().w;
        world.power_down(cut);
        if cut {
            let d = world.x.rng.below(world.x.fx.reboot_delay_max_ms + 1);
            world.x.now += d;
        }
        after_cut = cut;
    }
}

fn finish(
    w: Box<World>,
    image_len: usize,
    fail: &dyn Fn(&World, String) -> Failure,
) -> Result<Outcome, Failure> {
    let x = &w.x;
    if !x.violations.is_empty() {
        return Err(fail(&w, "invariant violated".into()));
    }
    if !x.slot_is_image() {
        return Err(fail(&w, "converged but the slot is not the image".into()));
    }
    let want = 1 + x.cloud.allowed_extra_dones;
    // A host without PUBACKs may lose a done the library counted delivered (see `host`).
    let lost = x.host.as_ref().map_or(0, |h| h.stats.lost_dones);
    if x.cloud.dones + lost != want {
        return Err(fail(
            &w,
            format!(
                "the cloud saw {} done, expected {want} (1 + windows) less {lost} lost",
                x.cloud.dones
            ),
        ));
    }
    if x.valid_record() {
        return Err(fail(&w, "the record survived the completed update".into()));
    }
    Ok(outcome(&w, image_len))
}

fn outcome(w: &World, image_len: usize) -> Outcome {
    let x = &w.x;
    Outcome {
        stats: x.stats.clone(),
        image_len,
        virtual_ms: x.now - 1_000_000,
        dones: x.cloud.dones,
        trace: x.trace.iter().cloned().collect(),
        host: x.host.as_ref().map(|h| h.stats.clone()),
        host_acks: x.host.as_ref().is_some_and(|h| h.cfg.acks),
    }
}

//! Fuzz smoke test, on stable: every fuzz target body (`fuzz/src/lib.rs`, the same code the
//! cargo-fuzz targets run) over its seed corpus `fuzz/corpus/<target>/` plus a fixed number of
//! seeded mutations per seed (bit flips, interesting bytes, truncations, deletions,
//! duplications, insertions, splices with another seed). Deterministic, so a failure reproduces;
//! the failing input is printed as a Rust byte string. Longer, coverage-guided runs: `fuzz/run.sh`.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use targets::Rng;

/// Mutations per seed file. Sized so the whole test stays well under 20 s in a debug build.
fn mutations_for(target: &str) -> usize {
    match target {
        "mqtt_session" | "http_download" => 1000,
        "http_body" => 1000,
        "delta" => 400,
        _ => 3000,
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).expect("read corpus file"))
        })
        .collect();
    files.sort();
    files
}

const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, b'\r', b'\n', b' ', b'"', b'\\', b'{', b'}', b'[',
    b':', b',', b'0', b'9', b'f', b'-', b';', b'/', b'#', b'+', b'?', b'@', b'[', b'%', 0xc3,
];

/// One to four stacked mutations of `input`; `other` is another seed for splicing.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(10) {
            0 | 1 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            3 if len > 0 => {
                let i = rng.below(len);
                v[i] = v[i].wrapping_add(rng.below(33) as u8).wrapping_sub(16);
            }
            4 => v.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                v.drain(a..b);
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let copy = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, copy);
            }
            7 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(at..at, bytes);
            }
            8 if !other.is_empty() => {
                let a = rng.below(len + 1);
                let b = rng.below(other.len());
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            _ if len > 1 => {
                let (a, b) = (rng.below(len), rng.below(len));
                v.swap(a, b);
            }
            _ => v.push(rng.next_u64() as u8),
        }
    }
    v
}

/// A failing input: where it came from, the bytes, and the panic message.
#[derive(Debug)]
struct Failure {
    target: String,
    origin: String,
    input: Vec<u8>,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz target `{}` panicked on {}: {}\ninput ({} bytes): b\"{}\"",
            self.target,
            self.origin,
            self.message,
            self.input.len(),
            self.input.escape_ascii()
        )
    }
}

/// Runs `body` over `seeds` and their mutations; returns how many inputs ran, or the first
/// input that panicked.
fn run(
    target: &str,
    body: targets::Target,
    seeds: &[(String, Vec<u8>)],
    mutations: usize,
) -> Result<usize, Failure> {
    let call = |origin: String, input: &[u8]| {
        panic::catch_unwind(AssertUnwindSafe(|| body(input))).map_err(|e| Failure {
            target: target.to_string(),
            origin,
            input: input.to_vec(),
            message: e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        })
    };
    let mut count = 0;
    for (i, (name, seed)) in seeds.iter().enumerate() {
        call(format!("seed {name}"), seed)?;
        count += 1;
        let other = &seeds[(i + 1) % seeds.len()].1;
        let mut rng = Rng::new(0x5eed_0000 + i as u64);
        for m in 0..mutations {
            let input = mutate(&mut rng, seed, other);
            call(format!("mutation {m} of seed {name}"), &input)?;
            count += 1;
        }
    }
    Ok(count)
}

fn smoke(target: &str) {
    let body = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no target {target}"))
        .1;
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "empty corpus for {target}");
    match run(target, body, &seeds, mutations_for(target)) {
        Ok(n) => eprintln!("{target}: {n} inputs, {} seeds", seeds.len()),
        Err(f) => panic!("{f}"),
    }
}

#[test]
fn mqtt_decode() {
    smoke("mqtt_decode");
}

#[test]
fn mqtt_session() {
    smoke("mqtt_session");
}

#[test]
fn http_head() {
    smoke("http_head");
}

#[test]
fn http_body() {
    smoke("http_body");
}

#[test]
fn http_download() {
    smoke("http_download");
}

#[test]
fn url() {
    smoke("url");
}

#[test]
fn ota_json() {
    smoke("ota_json");
}

#[test]
fn journal() {
    smoke("journal");
}

#[cfg(feature = "delta")]
#[test]
fn delta() {
    smoke("delta");
}

/// The list above, `targets::TARGETS`, `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*` agree.
#[test]
fn every_target_is_wired_up() {
    let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    let listed = |dir: &str, ext: &str| {
        let mut v: Vec<String> = fs::read_dir(fuzz_dir().join(dir))
            .expect(dir)
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(ext).map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    // The delta target needs the library's `delta` feature; its files are there regardless.
    if cfg!(not(feature = "delta")) {
        want.push("delta".to_string());
    }
    want.sort();
    assert_eq!(listed("fuzz_targets", ".rs"), want);
    assert_eq!(listed("corpus", ""), want);
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for n in &names {
        assert!(
            manifest.contains(&format!("name = \"{n}\"")),
            "{n} not in fuzz/Cargo.toml"
        );
    }
}

/// The harness really fails on a panicking target, and names the input.
#[test]
fn a_panicking_target_fails() {
    fn fragile(data: &[u8]) {
        if data.windows(2).any(|w| w == [0xff, 0xff]) {
            panic!("boom");
        }
    }
    let seeds = vec![("a".to_string(), vec![0xff, 0x00, 0xff, 0x01])];
    let r = run("fragile", fragile, &seeds, 500);
    let f = r.expect_err("the mutations should produce 0xff 0xff");
    assert_eq!(f.message, "boom");
    assert!(f.input.windows(2).any(|w| w == [0xff, 0xff]));
    assert!(f.to_string().contains("input ("), "{f}");
}

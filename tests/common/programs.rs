//! The C example programs, built through the project's own script, and running them with a
//! deadline.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Build the C examples with the project's own script (CMake calling cargo), once per test
/// binary, and return the directory holding them.
pub fn examples_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(root().join("scripts/build-demo.sh"))
                .env("BUILD_DIR", root().join("target/cmake"))
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/build-demo.sh");
            assert!(out.status.success(), "C examples build failed");
            let path = String::from_utf8(out.stdout).unwrap();
            let demo = PathBuf::from(path.lines().last().expect("demo path").trim());
            demo.parent().expect("c_examples dir").to_path_buf()
        })
        .clone()
}

pub fn program(name: &str) -> PathBuf {
    let p = examples_dir().join(name);
    assert!(
        p.is_file(),
        "{} was not built: libmosquitto (libmosquitto-dev) is missing; run scripts/setup.sh",
        p.display()
    );
    p
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qcloud-ota-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run a program with a deadline (killed, and the test fails, past it); exit code and output.
pub fn run(program: &Path, args: &[&str], limit: Duration) -> (i32, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{} did not finish within {limit:?}:\n{}",
                program.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("OTA_TEST_VERBOSE").is_some() {
        eprintln!("{text}");
    }
    (status.code().unwrap_or(-1), text)
}

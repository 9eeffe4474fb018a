//! The C example programs, built through the project's own script, and running them with a
//! deadline.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    wait_with_deadline(child, &program.display().to_string(), limit)
}

/// Exit code and output (stdout, then stderr where piped) of a started child, killed (and the
/// test failed) past the deadline. The pipes are drained by threads so a chatty child never
/// blocks on a full pipe.
pub fn wait_with_deadline(mut child: Child, what: &str, limit: Duration) -> (i32, String) {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let mut bytes = Vec::new();
                let _ = p.read_to_end(&mut bytes);
                s = String::from_utf8_lossy(&bytes).into_owned();
            }
            s
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {limit:?}:\n{}",
                stdout.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = stdout.join().unwrap() + &stderr.join().unwrap();
    if std::env::var_os("OTA_TEST_VERBOSE").is_some() {
        eprintln!("{text}");
    }
    (status.code().unwrap_or(-1), text)
}

/// Run a command to its end and fail the test, with its output, when it fails; `what` names
/// it in the messages.
pub fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {what} (scripts/setup.sh installs the tools): {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The demos' command line (ota_demo, scripts/rtos-demo.sh) for device `pid`/`dn` with the
/// test key, against `host`:`port`, running 1.0.0 with its flash files in `dir`.
pub fn demo_args<'a>(
    pid: &'a str,
    dn: &'a str,
    host: &'a str,
    port: &'a str,
    dir: &'a Path,
) -> Vec<&'a str> {
    let mut args = device_args(pid, dn, host, port, dir);
    args.extend_from_slice(&["--device-secret", super::SECRET]);
    args
}

/// [`demo_args`] without the credential, for a caller that authenticates otherwise.
pub fn device_args<'a>(
    pid: &'a str,
    dn: &'a str,
    host: &'a str,
    port: &'a str,
    dir: &'a Path,
) -> Vec<&'a str> {
    vec![
        "--product-id",
        pid,
        "--device-name",
        dn,
        "--host",
        host,
        "--port",
        port,
        "--version",
        "1.0.0",
        "--dir",
        dir.to_str().unwrap(),
    ]
}

/// Run a demo with `ota_demo`'s command line (identity from a device_info.json, `--once`) for
/// `pid`/`dn` against the stand-in on mosquitto's `port`, and check that the update ended the
/// way it must: exit 0, exactly one `done` and no deviation in the cloud's report, the slot
/// byte-identical to `image`, the device rebooted into 2.0.0. Returns the demo's log.
pub fn demo_updates_cleanly(
    demo: &Path,
    pid: &str,
    dn: &str,
    port: u16,
    cloud: qcloud_ota_standin::Cloud,
    image: &[u8],
) -> String {
    demo_updates_cleanly_with(demo, pid, dn, port, cloud, image, &[]).0
}

/// [`demo_updates_cleanly`] with more arguments for the demo (`--tls`, `--ca FILE` ...); also
/// returns the stand-in's report.
pub fn demo_updates_cleanly_with(
    demo: &Path,
    pid: &str,
    dn: &str,
    port: u16,
    cloud: qcloud_ota_standin::Cloud,
    image: &[u8],
    extra: &[&str],
) -> (String, qcloud_ota_standin::Report) {
    let dir = scratch_dir(dn);
    let info = dir.join("device_info.json");
    qcloud_ota_standin::write_device_info(&info, pid, dn, super::SECRET).unwrap();
    let device = dir.join("device");
    let port = port.to_string();
    let mut args = vec![
        "--device-info",
        info.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--version",
        "1.0.0",
        "--dir",
        device.to_str().unwrap(),
        "--once",
    ];
    args.extend_from_slice(extra);
    let (code, log) = run(demo, &args, Duration::from_secs(120));
    assert_eq!(code, 0, "{} failed:\n{log}", demo.display());
    assert!(
        cloud.wait_completed(Duration::from_secs(10)),
        "stand-in never saw the task complete:\n{log}"
    );
    let report = cloud.stop();
    super::assert_done_once(&report);
    assert!(report.completed);
    let slot = std::fs::read(device.join("firmware.bin")).unwrap();
    assert!(slot == image, "slot differs from the served image");
    let running = std::fs::read_to_string(device.join("running_version")).unwrap();
    assert_eq!(running.trim(), "2.0.0");
    assert!(log.contains("rebooting into 2.0.0"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    (log, report)
}

/// Start `program`, wait until a line of its output contains `wanted` (panics after `limit`),
/// then kill it (by its own handle). Returns the output so far.
pub fn run_until_line(program: &Path, args: &[&str], wanted: &str, limit: Duration) -> String {
    use std::io::BufRead;
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut log = String::new();
    let found = loop {
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(wanted);
                log.push_str(&line);
                log.push('\n');
                if hit {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    if std::env::var_os("OTA_TEST_VERBOSE").is_some() {
        eprintln!("{log}");
    }
    assert!(found, "no line with {wanted:?} within {limit:?}:\n{log}");
    log
}

/// Build the bare-metal firmware `c_examples/mps2-an386` for `cpu` (`cortex-m4`, `cortex-m3`)
/// through its CMake project and the project's cross toolchain file, so the library comes from
/// the CMAKE_SYSTEM_PROCESSOR -> Rust target mapping. Returns the build directory (firmware.elf,
/// firmware.map, the library under cargo/).
pub fn mcu_firmware(cpu: &str) -> PathBuf {
    let dir = root().join("target/mcu").join(cpu);
    let toolchain = root().join("cmake/arm-none-eabi.cmake");
    run_checked(
        Command::new("cmake")
            .arg("-S")
            .arg(root().join("c_examples/mps2-an386"))
            .arg("-B")
            .arg(&dir)
            .arg(format!("-DCMAKE_TOOLCHAIN_FILE={}", toolchain.display()))
            .arg(format!("-DMCU_CPU={cpu}")),
        &format!(
            "firmware configure for {cpu} (arm-none-eabi-gcc and the Rust target come from \
             scripts/setup.sh)"
        ),
    );
    run_checked(
        Command::new("cmake").arg("--build").arg(&dir),
        &format!("firmware build for {cpu}"),
    );
    assert!(dir.join("firmware.elf").is_file());
    dir
}

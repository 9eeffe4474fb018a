//! `standin`: the stand-in for IoT Explorer as a program, for the zero-install demo.

use qcloud_ota_standin::{
    Broker, Cloud, CloudConfig, DeviceTask, Faults, Leaf, TestPki, generate_image, md5_hex,
    write_device_info,
};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: standin [--embedded-broker PORT | --broker HOST:PORT] [--http-port P]
               --product-id ID --device-name NAME --device-secret B64 --target-version V
               (--image FILE | --image-size BYTES [--seed N])
               [--write-image FILE] [--write-device-info FILE] [--write-ports FILE]
               [--exit-when-done] [--timeout SECS] [--tls-dir DIR [--mqtt-tls-port P]]
               [--url-host HOST] [FAULT...]

Plays Tencent Cloud IoT Explorer's OTA service for one device: answers report_version,
offers update_firmware for the target version, serves the image over HTTP, and checks every
device message against the protocol reference. Without a broker option it embeds one on a
free port. Exit status: 0 when the task completed with no deviation (with --exit-when-done,
as soon as it completes); 1 on any deviation or on timeout; 2 on bad usage or start failure.

TLS: --tls-dir DIR generates a test CA (DIR/ca.pem, give it to the device with --ca) and a
certificate for localhost/127.0.0.1, serves the firmware over HTTPS, and (embedded broker)
accepts devices over MQTT/TLS on --mqtt-tls-port (default: any free port).
--url-host HOST names the firmware server in offered URLs (default 127.0.0.1), e.g. localhost
for a TLS client that matches names only (mbedTLS 2.28).

Faults (they combine; offsets are absolute image offsets; \"requests\" are requests for the
image; each fault that acts is named in the HTTP log line, after FAULT:):
  --drop-at N               the first response whose body contains byte N is cut after byte
                            N-1 and the connection closed; once per N; repeatable
  --stall-at N:MS           once, pause MS milliseconds before byte N, connection left open
  --trickle-at N:MS         once, from byte N on send one byte per MS milliseconds until the
                            device closes the connection
  --forbidden-first K       the URLs of the first K offers answer 403 (expired) for ever; the
                            device must send report_version again for a fresh URL
  --not-found               every request gets 404
  --server-error-first K    the first K requests get 500
  --redirect-first K        the first K requests get 302 to the same path with a fresh t=
  --ignore-range            always 200 with the whole image (Range and If-Range ignored)
  --wrong-content-length D  the first body response declares Content-Length off by D (the
                            body is the real slice; the connection closes after it)
  --change-object-at N      once byte N was sent, the object is replaced (bytes XOR 0xA5, new
                            ETag) and later offers carry its md5sum
  --chunked                 Transfer-Encoding: chunked with varying chunk sizes
  --wrong-md5sum HEX        offer this md5sum instead of the image's
  --insecure-redirect-first K  the first K requests get 302 to the same object over plain http";

#[derive(Default)]
struct Args {
    broker: Option<Broker>,
    http_port: u16,
    product_id: Option<String>,
    device_name: Option<String>,
    device_secret: Option<String>,
    target_version: Option<String>,
    image: Option<String>,
    image_size: Option<usize>,
    seed: u64,
    write_image: Option<String>,
    write_device_info: Option<String>,
    write_ports: Option<String>,
    exit_when_done: bool,
    timeout: Option<u64>,
    tls_dir: Option<String>,
    mqtt_tls_port: u16,
    url_host: Option<String>,
    faults: Faults,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seed: 1,
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String, what: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{what}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--embedded-broker" => {
                let p = num(value()?, &flag)?;
                a.broker = Some(Broker::Embedded {
                    port: u16::try_from(p).map_err(|_| format!("bad port {p}"))?,
                });
            }
            "--broker" => {
                let v = value()?;
                let (host, port) = v
                    .rsplit_once(':')
                    .ok_or_else(|| format!("--broker wants HOST:PORT, got {v:?}"))?;
                let port = port.parse().map_err(|_| format!("bad port in {v:?}"))?;
                a.broker = Some(Broker::External {
                    host: host.to_owned(),
                    port,
                });
            }
            "--http-port" => {
                let p = num(value()?, &flag)?;
                a.http_port = u16::try_from(p).map_err(|_| format!("bad port {p}"))?;
            }
            "--product-id" => a.product_id = Some(value()?),
            "--device-name" => a.device_name = Some(value()?),
            "--device-secret" => a.device_secret = Some(value()?),
            "--target-version" => a.target_version = Some(value()?),
            "--image" => a.image = Some(value()?),
            "--image-size" => a.image_size = Some(num(value()?, &flag)? as usize),
            "--seed" => a.seed = num(value()?, &flag)?,
            "--write-image" => a.write_image = Some(value()?),
            "--write-device-info" => a.write_device_info = Some(value()?),
            "--write-ports" => a.write_ports = Some(value()?),
            "--exit-when-done" => a.exit_when_done = true,
            "--tls-dir" => a.tls_dir = Some(value()?),
            "--url-host" => a.url_host = Some(value()?),
            "--mqtt-tls-port" => {
                let p = num(value()?, &flag)?;
                a.mqtt_tls_port = u16::try_from(p).map_err(|_| format!("bad port {p}"))?;
            }
            "--insecure-redirect-first" => {
                a.faults.insecure_redirect_first = num(value()?, &flag)? as usize;
            }
            "--timeout" => a.timeout = Some(num(value()?, &flag)?),
            "--drop-at" => a.faults.drop_at.push(num(value()?, &flag)?),
            "--stall-at" | "--trickle-at" => {
                let v = value()?;
                let (n, ms) = v
                    .split_once(':')
                    .ok_or_else(|| format!("{flag} wants N:MS, got {v:?}"))?;
                let at = Some((
                    num(n.to_owned(), &flag)?,
                    Duration::from_millis(num(ms.to_owned(), &flag)?),
                ));
                if flag == "--stall-at" {
                    a.faults.stall_at = at;
                } else {
                    a.faults.trickle_at = at;
                }
            }
            "--forbidden-first" => a.faults.forbidden_first = num(value()?, &flag)? as usize,
            "--not-found" => a.faults.not_found = true,
            "--server-error-first" => {
                a.faults.server_error_first = num(value()?, &flag)? as usize;
            }
            "--redirect-first" => a.faults.redirect_first = num(value()?, &flag)? as usize,
            "--ignore-range" => a.faults.ignore_range = true,
            "--wrong-content-length" => {
                let v = value()?;
                a.faults.wrong_content_length = Some(
                    v.parse()
                        .map_err(|_| format!("{flag}: not a number: {v:?}"))?,
                );
            }
            "--change-object-at" => a.faults.change_object_at = Some(num(value()?, &flag)?),
            "--chunked" => a.faults.chunked = true,
            "--wrong-md5sum" => a.faults.wrong_md5sum = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn required(v: Option<String>, flag: &str) -> Result<String, String> {
    v.ok_or_else(|| format!("{flag} is required"))
}

fn run(a: Args) -> Result<ExitCode, String> {
    let product_id = required(a.product_id, "--product-id")?;
    let device_name = required(a.device_name, "--device-name")?;
    let device_secret = required(a.device_secret, "--device-secret")?;
    let target_version = required(a.target_version, "--target-version")?;
    let image = match (a.image, a.image_size) {
        (Some(path), None) => std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?,
        (None, Some(size)) => generate_image(size, a.seed),
        _ => return Err("give exactly one of --image FILE and --image-size BYTES".into()),
    };
    if let Some(path) = &a.write_image {
        std::fs::write(path, &image).map_err(|e| format!("{path}: {e}"))?;
    }
    if let Some(path) = &a.write_device_info {
        write_device_info(path, &product_id, &device_name, &device_secret)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    let broker = a.broker.unwrap_or(Broker::Embedded { port: 0 });
    let broker_kind = match &broker {
        Broker::Embedded { .. } => "embedded broker",
        Broker::External { .. } => "external broker",
    };
    let (size, md5) = (image.len(), md5_hex(&image));
    let mut task = DeviceTask::new(
        product_id.clone(),
        device_name.clone(),
        device_secret,
        target_version.clone(),
        image,
    );
    task.faults = a.faults;
    let faults = (task.faults != Faults::default()).then(|| format!("{:?}", task.faults));
    let mut cfg = CloudConfig::new(broker, vec![task]);
    cfg.http_port = a.http_port;
    if let Some(host) = a.url_host {
        cfg.url_host = host;
    }
    cfg.log = Some(Arc::new(|line: &str| println!("{line}")));
    if let Some(dir) = &a.tls_dir {
        let pki = TestPki::generate(std::path::Path::new(dir)).map_err(|e| e.to_string())?;
        let server = pki
            .server_config(Leaf::Localhost)
            .map_err(|e| e.to_string())?;
        cfg.https = Some(server.clone());
        cfg.broker_tls = Some((server, a.mqtt_tls_port));
        println!(
            "standin: test CA {} (give it to the device)",
            pki.ca_path().display()
        );
    }
    let cloud = Cloud::start(cfg).map_err(|e| e.to_string())?;
    if let Some(p) = cloud.mqtt_tls_port() {
        println!("standin: MQTT over TLS at 127.0.0.1:{p}");
    }
    println!(
        "standin: MQTT {broker_kind} at {}:{}",
        cloud.mqtt_host(),
        cloud.mqtt_port()
    );
    println!(
        "standin: firmware server {} ({size} bytes, md5 {md5})",
        cloud
            .firmware_url(&product_id, &device_name)
            .unwrap_or_default()
    );
    println!(
        "standin: device {product_id}/{device_name}, upgrade task to version {target_version}"
    );
    if let Some(f) = faults {
        println!("standin: faults {f}");
    }
    println!(
        "MQTT_PORT={} HTTP_PORT={}",
        cloud.mqtt_port(),
        cloud.http_port()
    );
    if let Some(path) = &a.write_ports {
        std::fs::write(
            path,
            format!(
                "MQTT_PORT={}\nHTTP_PORT={}\nMQTT_TLS_PORT={}\n",
                cloud.mqtt_port(),
                cloud.http_port(),
                cloud.mqtt_tls_port().unwrap_or(0)
            ),
        )
        .map_err(|e| format!("{path}: {e}"))?;
    }

    let deadline = a.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut timed_out = false;
    loop {
        let step = Duration::from_secs(3600);
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(step),
            None => step,
        };
        let exit_early = a.exit_when_done;
        if cloud.wait_until(wait, |r| exit_early && r.completed) {
            // Let the broker deliver the last report_version_rsp before it goes away.
            std::thread::sleep(Duration::from_millis(500));
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            break;
        }
    }
    let report = cloud.stop();
    print!("{report}");
    let ok = report.completed && report.deviations.is_empty();
    if timed_out && !report.completed {
        println!("standin: timed out before the task completed");
    }
    Ok(if ok {
        println!("standin: OK");
        ExitCode::SUCCESS
    } else {
        println!("standin: FAILED");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("standin: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("standin: {e}");
            ExitCode::from(2)
        }
    }
}

//! The MQTT side: an embedded broker for the zero-install demo, and the cloud's own MQTT
//! connection (a `rumqttc` client) to whichever broker is in use.
//!
//! The embedded broker is rmqtt, not rumqttd: rumqttd (0.14 to 0.20) refuses every subscription
//! whose filter starts with `$` (other than `$share/`) and disconnects the client, and never
//! matches `$` topics, so Tencent's `$ota/update/...` and `$ota/report/...` cannot pass through
//! it. rmqtt carries them like any other topic (a wildcard in the first level still does not
//! match `$` topics, as MQTT 3.1.1 §4.7.2 says; the stand-in subscribes `$ota/report/+/+`).

use crate::Error;
use rumqttc::{Client, Connection, MqttOptions};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// An rmqtt broker running in-process on 127.0.0.1, on its own tokio runtime and thread.
pub struct EmbeddedBroker {
    port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the broker on `127.0.0.1:port` (0: any free port). Anonymous clients allowed;
    /// Tencent-style username/password are accepted and not checked.
    pub fn start(port: u16) -> Result<EmbeddedBroker, Error> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<u16, String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("standin-broker".into())
            .spawn(move || run_broker(port, ready_tx, shutdown_rx))
            .map_err(|e| Error::new(format!("cannot spawn the broker thread: {e}")))?;
        let mut broker = EmbeddedBroker {
            port: 0,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(p)) => {
                broker.port = p;
                Ok(broker)
            }
            Ok(Err(e)) => {
                broker.stop();
                Err(Error::new(format!("embedded broker on port {port}: {e}")))
            }
            Err(_) => {
                broker.stop();
                Err(Error::new("embedded broker did not start within 20 s"))
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the broker and joins its thread.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_broker(
    port: u16,
    ready: mpsc::Sender<Result<u16, String>>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("standin-broker-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("tokio runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        use rmqtt::context::ServerContext;
        use rmqtt::net::Builder;
        use rmqtt::server::MqttServer;

        let scx = ServerContext::new().build().await;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = match Builder::new()
            .name("standin")
            .laddr(addr)
            .reuseaddr(Some(true))
            .nodelay(true)
            .bind()
            .and_then(|l| l.tcp())
        {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let bound = match listener.local_addr() {
            Ok(a) => a.port(),
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let server = MqttServer::new(scx).listener(listener).build();
        let _ = ready.send(Ok(bound));
        tokio::select! {
            r = server.run() => {
                if let Err(e) = r {
                    eprintln!("standin: embedded broker stopped: {e}");
                }
            }
            _ = shutdown => {}
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// Opens the cloud's MQTT connection (not yet polled). `capacity` bounds the request queue.
pub(crate) fn connect(host: &str, port: u16, client_id: &str) -> (Client, Connection) {
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(true);
    // Large enough to receive (and flag) oversized device messages instead of dropping the link.
    opts.set_max_packet_size(1 << 20, 1 << 20);
    Client::new(opts, 1024)
}

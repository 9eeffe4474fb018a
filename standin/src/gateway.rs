//! The cloud's side of the gateway protocol (`shared/reference/gateway.md`): answers a gateway's
//! `online`/`offline` requests on `$gateway/operation/{gw pid}/{gw dn}`, keeps each sub-device's
//! online state per gateway connection, and holds back every report of a sub-device that is not
//! online (a deviation; no reply, so no offer either). Pure logic, like [`crate::checker`].
//!
//! Connections: the stand-in is an MQTT peer, not the broker, so it learns of the gateway's
//! connections from mosquitto's own log on `$SYS/broker/log/N` (`log_dest topic`, which
//! [`crate::Mosquitto`] configures), by its client id `{gw pid}{gw dn}`: a connection that ends,
//! and a new one (the previous one is then gone: one connection per identity), take its
//! sub-devices offline until it sends `online` again. mosquitto writes these lines from its one
//! thread as it handles the connection, before anything the new connection publishes, and they
//! reach the stand-in in that order. With the embedded broker (no such log) the online state
//! outlives a reconnect.

use crate::checker::{Outgoing, deviation_line, extra_keys};
use crate::report::Report;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// A gateway device and the sub-devices bound to it (the console's topology). A sub-device
/// that is not listed gets `result` -1 ("the gateway is not bound to this sub-device").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub product_id: String,
    pub device_name: String,
    /// `(product_id, device_name)` of each bound sub-device.
    pub bound: Vec<(String, String)>,
}

impl Gateway {
    pub fn new(
        product_id: impl Into<String>,
        device_name: impl Into<String>,
        bound: &[(&str, &str)],
    ) -> Gateway {
        Gateway {
            product_id: product_id.into(),
            device_name: device_name.into(),
            bound: bound
                .iter()
                .map(|(p, d)| ((*p).to_owned(), (*d).to_owned()))
                .collect(),
        }
    }
}

/// The filters the cloud subscribes when it serves gateways.
pub(crate) const OPERATION_FILTER: &str = "$gateway/operation/+/+";
pub(crate) const BROKER_LOG_FILTER: &str = "$SYS/broker/log/N";

struct GatewayState {
    cfg: Gateway,
    /// Sub-devices online on the gateway's current connection.
    online: BTreeSet<(String, String)>,
    connections: u32,
}

pub(crate) struct Gateways {
    gateways: Vec<GatewayState>,
    /// Every sub-device any gateway is bound to or asked about: their reports need it online.
    subs: BTreeSet<(String, String)>,
}

impl Gateways {
    pub fn new(cfg: Vec<Gateway>) -> Gateways {
        let subs = cfg.iter().flat_map(|g| g.bound.iter().cloned()).collect();
        Gateways {
            gateways: cfg
                .into_iter()
                .map(|cfg| GatewayState {
                    cfg,
                    online: BTreeSet::new(),
                    connections: 0,
                })
                .collect(),
            subs,
        }
    }

    /// What to subscribe besides `$ota/report/+/+` (nothing without gateways).
    pub fn filters(&self) -> &'static [&'static str] {
        if self.gateways.is_empty() {
            &[]
        } else {
            &[OPERATION_FILTER, BROKER_LOG_FILTER]
        }
    }

    /// A line of mosquitto's log: a gateway's connection that ends, or a new one (which means
    /// the previous one is gone), takes its sub-devices offline. Returns a note when it
    /// concerned a gateway.
    pub fn on_broker_log(&mut self, line: &str) -> Option<String> {
        let (client_id, event) = broker_log_event(line)?;
        let g = self
            .gateways
            .iter_mut()
            .find(|g| format!("{}{}", g.cfg.product_id, g.cfg.device_name) == client_id)?;
        let dropped: Vec<String> = std::mem::take(&mut g.online)
            .into_iter()
            .map(|(p, d)| format!("{p}/{d}"))
            .collect();
        let offline = if dropped.is_empty() {
            String::new()
        } else {
            format!(", {} offline", dropped.join(", "))
        };
        let gw = format!("gateway {}/{}", g.cfg.product_id, g.cfg.device_name);
        Some(match event {
            LogEvent::Connected => {
                g.connections += 1;
                format!("{gw}: connection #{}{offline}", g.connections)
            }
            LogEvent::Ended(why) => {
                format!("{gw}: connection #{} ended ({why}){offline}", g.connections)
            }
        })
    }

    /// `Some(replies)` when the message is the gateways' business: an operation request, or a
    /// report of a sub-device that is not online (a deviation, no reply). `None`: the checker's.
    pub fn intercept(
        &mut self,
        at: Duration,
        topic: &str,
        payload: &[u8],
        report: &mut Report,
    ) -> Option<Vec<Outgoing>> {
        let mut devs = Vec::new();
        let out = match topic.split('/').collect::<Vec<_>>().as_slice() {
            ["$gateway", "operation", pid, dn] => {
                self.on_operation(pid, dn, payload, &mut devs, &mut report.notes)
            }
            ["$ota", "report", pid, dn]
                if self.subs.contains(&(pid.to_string(), dn.to_string())) =>
            {
                if self.is_online(pid, dn) {
                    return None;
                }
                devs.push(format!(
                    "report for sub-device {pid}/{dn} while it is not online (no gateway brought it online on its current connection): not answered"
                ));
                Vec::new()
            }
            _ => return None,
        };
        for d in devs {
            report.deviations.push(deviation_line(at, topic, &d));
        }
        Some(out)
    }

    fn is_online(&self, pid: &str, dn: &str) -> bool {
        let key = (pid.to_owned(), dn.to_owned());
        self.gateways.iter().any(|g| g.online.contains(&key))
    }

    fn on_operation(
        &mut self,
        gw_pid: &str,
        gw_dn: &str,
        payload: &[u8],
        devs: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) -> Vec<Outgoing> {
        let Some(gi) = self
            .gateways
            .iter()
            .position(|g| g.cfg.product_id == gw_pid && g.cfg.device_name == gw_dn)
        else {
            devs.push(format!(
                "operation from {gw_pid}/{gw_dn}, which is not a gateway configured here"
            ));
            return Vec::new();
        };
        let Some(obj) = serde_json::from_slice::<Value>(payload)
            .ok()
            .and_then(|v| v.as_object().cloned())
        else {
            devs.push("gateway operation: payload is not a JSON object".into());
            return Vec::new();
        };
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.clone(),
            _ => {
                devs.push("gateway operation: no \"type\" string".into());
                return Vec::new();
            }
        };
        if ty != "online" && ty != "offline" {
            // bind, unbind, describe_sub_devices: valid, but not modelled here.
            notes.push(format!(
                "gateway operation {ty:?} from {gw_pid}/{gw_dn} not answered: the stand-in answers online and offline only"
            ));
            return Vec::new();
        }
        extra_keys(&obj, &["type", "payload"], "gateway operation", devs);
        let Some((pid, dn)) = one_device(&obj, &ty, devs) else {
            return Vec::new();
        };
        let key = (pid.clone(), dn.clone());
        self.subs.insert(key.clone());
        let g = &mut self.gateways[gi];
        let result = if g.cfg.bound.contains(&key) { 0 } else { -1 };
        if result == 0 {
            if ty == "online" {
                g.online.insert(key);
            } else {
                g.online.remove(&key);
            }
        }
        vec![Outgoing {
            topic: format!("$gateway/operation/result/{gw_pid}/{gw_dn}"),
            payload: format!(
                "{{\"type\":\"{ty}\",\"payload\":{{\"devices\":[{{\"product_id\":{},\"device_name\":{},\"result\":{result}}}]}}}}",
                Value::String(pid),
                Value::String(dn)
            ),
        }]
    }
}

enum LogEvent {
    Connected,
    Ended(&'static str),
}

/// The client id and what happened to its connection, from one of mosquitto's (2.0) connection
/// lines: "New client connected from A as ID (...)", "Client ID disconnected.", "Client ID
/// closed its connection.", "Client ID has exceeded timeout, disconnecting.", "Socket error on
/// client ID, disconnecting.", "Client ID already connected, closing old connection.". A
/// connection taken over ends without a line of its own (the last of these comes instead,
/// before the new connection's line), so each line is about the id's current connection.
fn broker_log_event(line: &str) -> Option<(&str, LogEvent)> {
    if let Some((_, rest)) = line.split_once("New client connected from ") {
        let id = rest.split_once(" as ")?.1.split_once(" (")?.0;
        return Some((id, LogEvent::Connected));
    }
    if let Some((_, rest)) = line.split_once("Socket error on client ") {
        return Some((
            rest.split_once(", disconnecting")?.0,
            LogEvent::Ended("socket error"),
        ));
    }
    let (_, rest) = line.split_once(": Client ")?;
    let (id, what) = rest.split_once(' ')?;
    let why = if what.starts_with("disconnected") {
        "disconnected"
    } else if what.starts_with("closed its connection") {
        "closed"
    } else if what.starts_with("has exceeded timeout") {
        "keep-alive timeout"
    } else if what.starts_with("already connected, closing old connection") {
        "taken over by a new connection"
    } else {
        return None;
    };
    Some((id, LogEvent::Ended(why)))
}

/// `payload.devices` must hold exactly one `{"product_id","device_name"}` (Tencent's SDKs send
/// and read one; reference §2).
fn one_device(
    obj: &Map<String, Value>,
    ty: &str,
    devs: &mut Vec<String>,
) -> Option<(String, String)> {
    let Some(p) = obj.get("payload").and_then(Value::as_object) else {
        devs.push(format!("{ty}: no \"payload\" object"));
        return None;
    };
    extra_keys(p, &["devices"], &format!("{ty}.payload"), devs);
    let list = match p.get("devices").and_then(Value::as_array) {
        Some(l) if l.len() == 1 => l,
        Some(l) => {
            devs.push(format!(
                "{ty}: payload.devices has {} entries, expected one",
                l.len()
            ));
            return None;
        }
        None => {
            devs.push(format!("{ty}: no payload.devices array"));
            return None;
        }
    };
    let Some(d) = list[0].as_object() else {
        devs.push(format!("{ty}: payload.devices[0] is not an object"));
        return None;
    };
    extra_keys(
        d,
        &["product_id", "device_name"],
        &format!("{ty}.payload.devices[0]"),
        devs,
    );
    match (d.get("product_id"), d.get("device_name")) {
        (Some(Value::String(p)), Some(Value::String(n))) => Some((p.clone(), n.clone())),
        _ => {
            devs.push(format!(
                "{ty}: payload.devices[0] needs product_id and device_name strings"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "$gateway/operation/GWPRODUCT1/gw-1";

    fn online(dn: &str) -> String {
        format!(
            "{{\"type\":\"online\",\"payload\":{{\"devices\":[{{\"product_id\":\"SUBPRODUCT\",\"device_name\":\"{dn}\"}}]}}}}"
        )
    }

    fn gateways() -> Gateways {
        Gateways::new(vec![Gateway::new(
            "GWPRODUCT1",
            "gw-1",
            &[("SUBPRODUCT", "sub-a")],
        )])
    }

    fn send(g: &mut Gateways, r: &mut Report, topic: &str, payload: &str) -> Option<Vec<Outgoing>> {
        g.intercept(Duration::ZERO, topic, payload.as_bytes(), r)
    }

    #[test]
    fn online_answers_bound_and_unbound_and_gates_reports() {
        let (mut g, mut r) = (gateways(), Report::default());
        let report = "$ota/report/SUBPRODUCT/sub-a";
        // Not online yet: the report is held back and counted.
        assert_eq!(send(&mut g, &mut r, report, "{}"), Some(vec![]));
        assert_eq!(r.deviations.len(), 1, "{:?}", r.deviations);

        let out = send(&mut g, &mut r, GW, &online("sub-a")).unwrap();
        assert_eq!(out[0].topic, "$gateway/operation/result/GWPRODUCT1/gw-1");
        assert_eq!(
            out[0].payload,
            "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\",\"device_name\":\"sub-a\",\"result\":0}]}}"
        );
        assert_eq!(
            send(&mut g, &mut r, report, "{}"),
            None,
            "online: the checker's"
        );

        let out = send(&mut g, &mut r, GW, &online("sub-x")).unwrap();
        assert!(
            out[0].payload.ends_with("\"result\":-1}]}}"),
            "{}",
            out[0].payload
        );
        assert!(send(&mut g, &mut r, "$ota/report/SUBPRODUCT/sub-x", "{}").is_some());
        // Devices that no gateway knows are not gated.
        assert_eq!(
            send(&mut g, &mut r, "$ota/report/OTHER00001/dev", "{}"),
            None
        );
        assert_eq!(r.deviations.len(), 2, "{:?}", r.deviations);
    }

    #[test]
    fn a_new_connection_or_offline_takes_sub_devices_offline() {
        let (mut g, mut r) = (gateways(), Report::default());
        let report = "$ota/report/SUBPRODUCT/sub-a";
        let connect = "1733600000: New client connected from 127.0.0.1:40000 as GWPRODUCT1gw-1 (p2, c1, k60, u'GWPRODUCT1gw-1;12010126;Ab1Cd;2147483647').";
        assert!(g.on_broker_log(connect).is_some());
        send(&mut g, &mut r, GW, &online("sub-a"));
        assert_eq!(send(&mut g, &mut r, report, "{}"), None);
        let note = g.on_broker_log(connect).unwrap();
        assert!(
            note.contains("connection #2, SUBPRODUCT/sub-a offline"),
            "{note}"
        );
        assert!(send(&mut g, &mut r, report, "{}").is_some());
        // Each way mosquitto says a connection ended.
        for (line, why) in [
            ("1: Client GWPRODUCT1gw-1 disconnected.", "(disconnected)"),
            (
                "1: Client GWPRODUCT1gw-1 closed its connection.",
                "(closed)",
            ),
            (
                "1: Client GWPRODUCT1gw-1 has exceeded timeout, disconnecting.",
                "(keep-alive timeout)",
            ),
            (
                "1: Socket error on client GWPRODUCT1gw-1, disconnecting.",
                "(socket error)",
            ),
            (
                "1: Client GWPRODUCT1gw-1 already connected, closing old connection.",
                "(taken over by a new connection)",
            ),
        ] {
            send(&mut g, &mut r, GW, &online("sub-a"));
            assert_eq!(send(&mut g, &mut r, report, "{}"), None);
            let note = g.on_broker_log(line).unwrap();
            assert!(
                note.ends_with(&format!(
                    "connection #2 ended {why}, SUBPRODUCT/sub-a offline"
                )),
                "{note}"
            );
            assert!(send(&mut g, &mut r, report, "{}").is_some());
        }
        assert!(g.on_broker_log("1: Client other disconnected.").is_none());
        assert!(
            g.on_broker_log("1: Client GWPRODUCT1gw-1 subscribed.")
                .is_none()
        );
        assert!(
            g.on_broker_log(
                "1733600000: New client connected from 127.0.0.1:40001 as other (p2, c1, k60)."
            )
            .is_none()
        );

        send(&mut g, &mut r, GW, &online("sub-a"));
        let off = online("sub-a").replace("\"online\"", "\"offline\"");
        let out = send(&mut g, &mut r, GW, &off).unwrap();
        assert!(out[0].payload.starts_with("{\"type\":\"offline\""));
        assert!(send(&mut g, &mut r, report, "{}").is_some());
        assert_eq!(r.deviations.len(), 7, "{:?}", r.deviations);
    }

    #[test]
    fn malformed_requests_are_deviations() {
        let (mut g, mut r) = (gateways(), Report::default());
        for bad in [
            "not json",
            "{\"payload\":{}}",
            "{\"type\":\"online\"}",
            "{\"type\":\"online\",\"payload\":{\"devices\":[]}}",
            "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\"}]}}",
        ] {
            let before = r.deviations.len();
            assert_eq!(send(&mut g, &mut r, GW, bad), Some(vec![]), "{bad}");
            assert!(r.deviations.len() > before, "{bad}");
        }
        assert_eq!(
            send(
                &mut g,
                &mut r,
                "$gateway/operation/GWPRODUCT1/nobody",
                &online("sub-a")
            ),
            Some(vec![])
        );
    }
}

//! The entry points C calls (`ota_init`, `ota_poll`, ...), each through the gate in `gate.rs`.

use core::ffi::c_char;
use core::ptr::addr_of_mut;

use super::callbacks::ota_platform;
use super::config::{build, c_str, ota_config};
use super::constants::*;
use super::gate::{
    CMD_ACCEPT, CMD_CONFIRM, CMD_DECLINE, CMD_DEFER, CMD_NONE, MAGIC, Storage, code, command,
    ota_client, with_client,
};
#[cfg(feature = "host-mqtt")]
use super::{callbacks::nul_terminated, config::c_len};
#[cfg(feature = "host-mqtt")]
use crate::client::TOPIC_MAX;
use crate::error::Error;

/// A snapshot for ota_get_status().
#[repr(C)]
pub struct ota_status {
    /// OTA_STATE_*
    pub state: i32,
    /// The MQTT session is up and subscribed.
    pub connected: bool,
    /// The last error (OTA_ERR_*), or OTA_OK.
    pub last_error: i32,
    pub file_size: u32,
    pub downloaded: u32,
    pub percent: u8,
    /// NUL-terminated target version ("" when idle).
    pub target_version: [c_char; 33],
    /// NUL-terminated running version.
    pub running_version: [c_char; 33],
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

/// Initialise a client in `client` storage: validates and copies the configuration, loads the
/// persistent record (to report `done` or a rollback after an update's reboot), and calls nothing
/// else. Connecting happens in ota_poll(). Returns OTA_OK or OTA_ERR_*. Stack: about 1.1 KiB on
/// a Cortex-M4 (measured in QEMU, callbacks included).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_init(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { init(client, config, platform) })
}

/// [`ota_init`] with `?` for its many checks: the client built and checked, then the
/// persistent record loaded ([`Client::boot`]) once `build`'s frame is gone.
///
/// # Safety
/// As for [`ota_init`]: NULL or valid pointers; strings and buffers as documented in ota_config.
unsafe fn init(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> Result<(), Error> {
    // SAFETY: forwarded caller contract.
    unsafe { build(client, config, platform)? };
    let s = client.cast::<Storage>();
    // SAFETY: `build` wrote a checked client into the storage; the header through raw pointers.
    unsafe {
        (*addr_of_mut!((*s).client)).assume_init_mut().boot();
        addr_of_mut!((*s).busy).write(0);
        addr_of_mut!((*s).cmd).write(CMD_NONE);
        addr_of_mut!((*s).magic).write(MAGIC);
    }
    Ok(())
}

/// Do whatever is due (connect, read, write, download a chunk, report, ping) without blocking.
/// Returns the milliseconds until it wants to be called again (0: call again at once). Call it
/// sooner when a socket becomes readable. Returns UINT32_MAX for an uninitialised client. Stack:
/// about 1.5 KiB on a Cortex-M4 (measured in QEMU, callbacks included), ~2 KiB on x86-64.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_poll(client: *mut ota_client) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { with_client(client, |c| c.poll()) }.unwrap_or(u32::MAX)
}

/// Report the running version (1..32 bytes) to the cloud, now or as soon as connected. The
/// library already reports it after every (re)connect; call this after the version changed
/// without a reboot, or to ask the cloud to re-send a pending update.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_report_version(
    client: *mut ota_client,
    version: *const c_char,
) -> i32 {
    // SAFETY: forwarded caller contract.
    let v = match unsafe { c_str(version, OTA_VERSION_MAX) } {
        Ok(v) => v,
        Err(e) => return e.code(),
    };
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.report_version(v)) }.and_then(|r| r))
}

/// Accept the offered update (OTA_STATE_OFFERED). Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_accept(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_ACCEPT, 0) }
}

/// Decline the offered update: the cloud hears `fail` -5 "declined by device". Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_decline(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_DECLINE, 0) }
}

/// Put the offer aside; after delay_ms the library reports the version again so the cloud re-sends it. Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_defer(client: *mut ota_client, delay_ms: u32) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_DEFER, delay_ms) }
}

/// OTA_FLAG_HOST_MQTT: the host's MQTT connection is up (after every (re)connect). The next
/// ota_poll() subscribes through mqtt_subscribe and reports the version. Reports that were not
/// acknowledged on the previous connection are published again (with new tokens), so the host's
/// client should start a clean session rather than also resend its own queued messages. There is
/// no PUBACK timeout in this mode: the host's client retransmits, and a token that will never be
/// acknowledged must end with ota_mqtt_disconnected(). ota_mqtt_input/acked/disconnected return
/// OTA_ERR_BUSY when called from inside this client's own callbacks (a synchronous MQTT client
/// delivering inside mqtt_publish): queue them and call after ota_poll() returns.
///
/// Cargo feature `host-mqtt` only (CMake QCLOUD_OTA_HOST_MQTT): other builds leave it out, so a
/// firmware calling it without the feature fails to link rather than misbehave.
#[cfg(feature = "host-mqtt")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_connected(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_connected()) }.and_then(|r| r))
}

/// OTA_FLAG_HOST_MQTT: the host's MQTT connection is down. Reports wait for ota_mqtt_connected().
///
/// Cargo feature `host-mqtt` only (CMake QCLOUD_OTA_HOST_MQTT): other builds leave it out, so a
/// firmware calling it without the feature fails to link rather than misbehave.
#[cfg(feature = "host-mqtt")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_disconnected(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_disconnected()) })
}

/// OTA_FLAG_HOST_MQTT: a message the host received. Returns OTA_OK when it was for this client
/// (its topic is ota_update_topic()), OTA_ERR_OTHER_TOPIC when the topic is another's (a
/// gateway may offer each message to each of its clients). The library only queues its answer;
/// it publishes from ota_poll(), so this is safe to call from the host MQTT client's callback.
/// Called from inside one of this client's own callbacks (a host whose publish delivers
/// messages synchronously) it returns OTA_ERR_BUSY: keep the message and hand it over after.
///
/// Cargo feature `host-mqtt` only (CMake QCLOUD_OTA_HOST_MQTT): other builds leave it out, so a
/// firmware calling it without the feature fails to link rather than misbehave.
#[cfg(feature = "host-mqtt")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_input(
    client: *mut ota_client,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
) -> i32 {
    // Compared as bytes: a topic that is not ASCII is simply another's.
    // SAFETY: forwarded caller contract; `len` bytes were just read.
    let topic = match unsafe { c_len(topic, TOPIC_MAX) } {
        Ok(len) => unsafe { core::slice::from_raw_parts(topic.cast::<u8>(), len) },
        Err(e) => return e.code(),
    };
    if payload.is_null() && len > 0 {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: `payload` is valid for `len` bytes (checked non-NULL when len > 0).
    let payload = if len == 0 {
        &[][..]
    } else {
        unsafe { core::slice::from_raw_parts(payload, len) }
    };
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_input(topic, payload)) }.and_then(|r| r))
}

/// OTA_FLAG_HOST_MQTT: the broker acknowledged the publish mqtt_publish returned `token` for.
/// Without it the report goes again after ack_timeout_ms (see ota_mqtt_publish_fn); an ack for
/// a token that was since replaced by a re-publish is ignored.
///
/// Cargo feature `host-mqtt` only (CMake QCLOUD_OTA_HOST_MQTT): other builds leave it out, so a
/// firmware calling it without the feature fails to link rather than misbehave.
#[cfg(feature = "host-mqtt")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_acked(client: *mut ota_client, token: i32) -> i32 {
    if token <= 0 {
        return OTA_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_acked(token as u32)) })
}

/// Copy this client's update topic (`$ota/update/{product_id}/{device_name}`), NUL-terminated,
/// into `buf`: the topic whose messages go to ota_mqtt_input(). Returns its length or OTA_ERR_*.
///
/// Cargo feature `host-mqtt` only (CMake QCLOUD_OTA_HOST_MQTT): other builds leave it out, so a
/// firmware calling it without the feature fails to link rather than misbehave.
#[cfg(feature = "host-mqtt")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_update_topic(
    client: *mut ota_client,
    buf: *mut c_char,
    cap: usize,
) -> i32 {
    if buf.is_null() {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded caller contract; `buf` is valid for `cap` bytes.
    let r = unsafe {
        with_client(client, |c| {
            let t = c.update_topic();
            if t.len() >= cap {
                return Err(Error::BufferTooSmall);
            }
            let out = core::slice::from_raw_parts_mut(buf.cast::<u8>(), cap);
            nul_terminated(t, out);
            Ok(t.len() as i32)
        })
    };
    match r.and_then(|r| r) {
        Ok(n) => n,
        Err(e) => e.code(),
    }
}

/// With OTA_FLAG_MANUAL_CONFIRM: the new image passed its self-test; report `done` and the new
/// version (OTA_STATE_CONFIRMING). Without calling it, a bootloader rollback is reported as
/// `fail` -5 on the next boot. Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_confirm(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_CONFIRM, 0) }
}

/// Fill `out` with the client's state, progress and versions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_get_status(client: *mut ota_client, out: *mut ota_status) -> i32 {
    if out.is_null() {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded caller contract; `out` checked non-NULL.
    let r = unsafe {
        with_client(client, |c| {
            let e = c.engine();
            // All zero is a valid `ota_status` (integers, a bool, byte arrays): idle, empty.
            out.write_bytes(0, 1);
            let st = &mut *out;
            st.state = e.state() as i32;
            st.connected = c.is_online();
            st.last_error = e.last_error().map_or(OTA_OK, Error::code);
            if let Some(o) = e.offer() {
                st.file_size = o.file_size;
                st.downloaded = e.downloaded();
                st.percent = crate::num::percent(st.downloaded, o.file_size);
                copy_version(&mut st.target_version, o.version.as_bytes());
            }
            copy_version(&mut st.running_version, e.running_version().as_bytes());
        })
    };
    code(r)
}

/// A version (at most 32 bytes) into a zeroed `ota_status` field, which keeps its NUL.
fn copy_version(dst: &mut [c_char; 33], v: &[u8]) {
    for (d, &b) in dst.iter_mut().take(OTA_VERSION_MAX).zip(v) {
        *d = b as c_char;
    }
}

/// Close both connections (sending an MQTT DISCONNECT if the socket takes it at once) and
/// release the storage. Calls only net_send/net_close: the slot is left as it is, and no event
/// is raised. The persistent record stays, so the next ota_init() still reports the outcome.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_deinit(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    let r = unsafe { with_client(client, |c| c.shutdown()) };
    if r.is_ok() {
        // SAFETY: the client was initialised (with_client succeeded) and is no longer borrowed.
        unsafe {
            let s = client.cast::<Storage>();
            addr_of_mut!((*s).magic).write(0);
            (*addr_of_mut!((*s).client)).assume_init_drop();
        }
    }
    code(r)
}

/// A static, NUL-terminated text for a status code, never NULL: "success" for OTA_OK; for an
/// OTA_ERR_* code, a sentence in host builds (feature `std`), the constant's name (e.g.
/// "OTA_ERR_MD5_MISMATCH", documented in this header) in bare-metal builds, which leave the
/// sentences out for flash; "unknown status" for any other value.
#[unsafe(no_mangle)]
pub extern "C" fn ota_strerror(status: i32) -> *const c_char {
    match status {
        OTA_OK => c"success".as_ptr(),
        s => Error::from_code(s).map_or(c"unknown status".as_ptr(), |e| e.c_text().cast()),
    }
}

/// True when the library has the built-in TLS (cargo feature `tls`, on in the default Linux
/// build): TLS connections are then the library's unless OTA_FLAG_HOST_TLS is set. False in MCU
/// builds: net_connect is asked for TLS (OTA_NET_TLS) and the host's stack (e.g. mbedTLS) opens it.
#[unsafe(no_mangle)]
pub extern "C" fn ota_has_builtin_tls() -> bool {
    cfg!(feature = "tls")
}

/// The library version, e.g. "0.1.0".
#[unsafe(no_mangle)]
pub extern "C" fn ota_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

//! The configuration: `ota_config`, the C strings and buffers in it checked once, and the client
//! built from it straight into its storage.

use core::ffi::c_char;
use core::ptr::addr_of_mut;

use super::callbacks::{Checked, ota_platform};
use super::constants::*;
use super::gate::{Storage, ota_client};
use crate::auth::SignMethod;
use crate::client::{Buffers, Client, Config};
use crate::engine::Policy;
use crate::error::Error;
use crate::link::TlsSetup;

// ---------------------------------------------------------------------------------------------
// Configuration and the functions the host provides
// ---------------------------------------------------------------------------------------------

/// What ota_init() needs. Zero a struct, fill the required fields; 0/NULL elsewhere means the default. Strings are copied.
#[repr(C)]
pub struct ota_config {
    /// Required. The product id from the console (e.g. "ABCDEFGHIJ").
    pub product_id: *const c_char,
    /// Required. The device name.
    pub device_name: *const c_char,
    /// Required (NULL allowed with OTA_FLAG_HOST_MQTT or OTA_FLAG_CERT_AUTH, and ignored with
    /// the latter). The device secret, base64, as the console shows it.
    pub device_secret: *const c_char,
    /// NULL: "{product_id}.iotcloud.tencentdevices.com".
    pub broker_host: *const c_char,
    /// 0: 1883, or 8883 with OTA_FLAG_MQTT_TLS.
    pub broker_port: u16,
    /// Required. The version this firmware runs, 1..32 bytes.
    pub running_version: *const c_char,
    /// OTA_FLAG_* bits.
    pub flags: u32,
    /// Required (NULL allowed with OTA_FLAG_HOST_MQTT). MQTT receive buffer: holds one whole
    /// incoming packet. Must stay valid until ota_deinit().
    pub mqtt_rx_buf: *mut u8,
    /// Bytes in mqtt_rx_buf, at least OTA_MIN_MQTT_RX (2048 recommended: update_firmware is
    /// about 500 bytes plus user_defined); bigger messages are dropped (OTA_ERR_MQTT_OVERSIZE).
    /// Ignored with OTA_FLAG_HOST_MQTT and a NULL buffer.
    pub mqtt_rx_len: usize,
    /// Required (NULL allowed with OTA_FLAG_HOST_MQTT). MQTT transmit buffer: holds one
    /// outgoing packet (CONNECT is the largest). Must stay valid until ota_deinit().
    pub mqtt_tx_buf: *mut u8,
    /// Bytes in mqtt_tx_buf, at least OTA_MIN_MQTT_TX. Ignored with OTA_FLAG_HOST_MQTT and a
    /// NULL buffer.
    pub mqtt_tx_len: usize,
    /// Required. HTTP buffer: the whole response head must fit, then it is the download chunk.
    /// Must stay valid until ota_deinit().
    pub http_buf: *mut u8,
    /// Bytes in http_buf, at least OTA_MIN_HTTP (4096 or more for speed: fewer net_recv and
    /// slot_write calls).
    pub http_len: usize,
    /// Largest image the slot takes; bigger offers are refused with result_code -5. 0: no limit.
    pub slot_size: u32,
    /// MQTT keepalive in seconds. 0: OTA_DEFAULT_KEEPALIVE_S.
    pub keepalive_s: u16,
    /// 0: OTA_DEFAULT_ACK_TIMEOUT_MS.
    pub ack_timeout_ms: u32,
    /// 0: OTA_DEFAULT_PROGRESS_INTERVAL_MS; values under OTA_MIN_PROGRESS_INTERVAL_MS are raised
    /// to it (Tencent's rate).
    pub progress_interval_ms: u32,
    /// 0: OTA_DEFAULT_STALL_TIMEOUT_MS. Fewer than 1 KiB of body (or the rest of the image) in
    /// this long is a stall, retried with backoff: also a server that trickles a byte at a time.
    /// The slowest link that still completes is 1 KiB per stall_timeout_ms (34 B/s at 30 s).
    pub stall_timeout_ms: u32,
    /// 0: OTA_DEFAULT_MAX_ATTEMPTS.
    pub max_attempts: u32,
    /// Save the resume record after this many new bytes (0: OTA_DEFAULT_JOURNAL_INTERVAL). A
    /// multiple of the flash sector size keeps wear low; a power cut costs at most this much.
    pub journal_interval: u32,
    /// NULL, or the module this client serves (`fw_type`, e.g. "mcu", at most 16 bytes): offers
    /// for other modules are ignored and report_version names the module. One client per module.
    pub fw_type: *const c_char,
    /// 0: OTA_DEFAULT_NET_POLL_MS. Hosts that wait on socket readiness (readable, connected, and
    /// writable after an OTA_NET_WOULD_BLOCK send) may set it high.
    pub net_poll_ms: u32,
    /// Built-in TLS: extra trust anchors for the broker and the firmware server, PEM text with
    /// one or more certificates, or one DER certificate (NULL: none). Trusted besides Tencent's
    /// IoT CA (MQTT) and the Mozilla roots (HTTPS). Not copied: must stay valid until ota_deinit().
    /// Ignored without the built-in TLS (ota_has_builtin_tls()) or with OTA_FLAG_HOST_TLS.
    pub ca: *const u8,
    /// Bytes at ca (0: no extra anchors, ca may be NULL); for PEM text, its strlen() (the NUL
    /// not counted).
    pub ca_len: usize,
    /// Built-in TLS: the receive buffer for TLS records, at least OTA_MIN_TLS_LEN for https
    /// downloads and 2 * OTA_MIN_TLS_LEN with OTA_FLAG_MQTT_TLS (NULL: no built-in TLS
    /// connection can open; not needed with OTA_FLAG_HOST_TLS). Must stay valid until ota_deinit().
    pub tls_buf: *mut u8,
    /// Bytes in tls_buf (ignored when tls_buf is NULL): OTA_MIN_TLS_LEN per connection that
    /// uses the built-in TLS. With OTA_FLAG_MQTT_TLS the first OTA_MIN_TLS_LEN are the
    /// broker's, and ota_init() refuses less than twice that (OTA_ERR_BUFFER_TOO_SMALL); an
    /// https download with less than OTA_MIN_TLS_LEN left fails with OTA_ERR_TLS_CONFIG.
    pub tls_len: usize,
    /// Built-in TLS with OTA_FLAG_CERT_AUTH: the device certificate the broker authenticates,
    /// PEM (the certificate, then any intermediates) or one DER certificate; RSA 2048 or ECDSA
    /// P-256. Not copied: must stay valid until ota_deinit(). (ABI: these four fields were added
    /// at the end of ota_config; code built against an older header must be recompiled.)
    pub client_cert: *const u8,
    pub client_cert_len: usize,
    /// Built-in TLS with OTA_FLAG_CERT_AUTH: the certificate's private key, PEM or DER (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC). Never logged; the bytes are not copied (the TLS layer keeps the
    /// parsed key, freed by ota_deinit() but not wiped); must stay valid until ota_deinit()
    /// (wipe it yourself afterwards if it lives in RAM).
    pub client_key: *const u8,
    pub client_key_len: usize,
}

/// The length of a NUL-terminated C string of at most `max` bytes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string (it is read at most up to `max` + 1 bytes).
pub(super) unsafe fn c_len(p: *const c_char, max: usize) -> Result<usize, Error> {
    if p.is_null() {
        return Err(Error::NullPointer);
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL within the string; we stop at max + 1 bytes.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
        if len > max {
            return Err(Error::InvalidArgument);
        }
    }
    Ok(len)
}

/// A bounded, NUL-terminated C string of printable ASCII, what every name, secret and version
/// of Tencent's is: checked here once, so no UTF-8 decoder is needed anywhere.
///
/// # Safety
/// As for [`c_len`].
pub(super) unsafe fn c_str<'a>(p: *const c_char, max: usize) -> Result<&'a str, Error> {
    // SAFETY: forwarded caller contract; `len` bytes were just read.
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), c_len(p, max)?) };
    if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: printable ASCII is UTF-8.
    Ok(unsafe { core::str::from_utf8_unchecked(bytes) })
}

/// # Safety
/// `p` is NULL or valid for `len` writable bytes until `ota_deinit`.
unsafe fn buffer(p: *mut u8, len: usize) -> Result<&'static mut [u8], Error> {
    if p.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: the caller lends the buffer for the client's lifetime (documented in ota_config).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// Read-only bytes the host lends: empty for length 0, refused for NULL with a length.
///
/// # Safety
/// `p` is NULL or valid for `len` bytes until `ota_deinit`.
unsafe fn bytes(p: *const u8, len: usize) -> Result<&'static [u8], Error> {
    match (p.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(Error::NullPointer),
        // SAFETY: the caller lends the bytes for the client's lifetime.
        (false, n) => Ok(unsafe { core::slice::from_raw_parts(p, n) }),
    }
}

fn overlaps(a: (*mut u8, usize), b: (*mut u8, usize)) -> bool {
    let (a0, b0) = (a.0 as usize, b.0 as usize);
    a0 < b0.saturating_add(b.1) && b0 < a0.saturating_add(a.1)
}

fn or_default(v: u32, d: u32) -> u32 {
    if v == 0 { d } else { v }
}

/// Checks the arguments and writes the client into `client` ([`Client::blank_in`], inlined
/// here so the configuration goes into it straight from registers, then [`Client::fill`]).
/// Not inlined: LLVM stages parts of the blank engine on this frame (0.5 KiB on thumbv7em),
/// which must be gone before `boot` loads the journal.
///
/// # Safety
/// As for [`ota_init`].
#[inline(never)]
pub(super) unsafe fn build(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> Result<(), Error> {
    if client.is_null() || config.is_null() || platform.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: checked non-NULL; the caller passes valid structs.
    let (cfg, p) = unsafe { (&*config, &*platform) };
    let host_mqtt = cfg.flags & OTA_FLAG_HOST_MQTT != 0;
    let plat = Checked::new(p, host_mqtt)?;
    let tls_len = if cfg.tls_buf.is_null() {
        0
    } else {
        cfg.tls_len
    };
    let bufs = [
        (cfg.mqtt_rx_buf, cfg.mqtt_rx_len),
        (cfg.mqtt_tx_buf, cfg.mqtt_tx_len),
        (cfg.http_buf, cfg.http_len),
        (cfg.tls_buf, tls_len),
    ];
    for (i, a) in bufs.iter().enumerate() {
        if bufs.iter().skip(i + 1).any(|b| overlaps(*a, *b)) {
            return Err(Error::InvalidArgument);
        }
    }
    let flag = |f: u32| cfg.flags & f != 0;
    // The numbers and flags first, then each string written straight into its field.
    let mut c = Config {
        product_id: "",
        device_name: "",
        device_secret: "",
        running_version: "",
        broker_host: None,
        broker_port: cfg.broker_port,
        mqtt_tls: flag(OTA_FLAG_MQTT_TLS | OTA_FLAG_CERT_AUTH),
        host_tls: flag(OTA_FLAG_HOST_TLS),
        keepalive_s: or_default(cfg.keepalive_s.into(), OTA_DEFAULT_KEEPALIVE_S.into()) as u16,
        ack_timeout_ms: or_default(cfg.ack_timeout_ms, OTA_DEFAULT_ACK_TIMEOUT_MS),
        sign_method: match flag(OTA_FLAG_HMAC_SHA1) {
            true => SignMethod::HmacSha1,
            false => SignMethod::HmacSha256,
        },
        net_poll_ms: or_default(cfg.net_poll_ms, OTA_DEFAULT_NET_POLL_MS),
        policy: Policy {
            manual_accept: flag(OTA_FLAG_MANUAL_ACCEPT),
            manual_confirm: flag(OTA_FLAG_MANUAL_CONFIRM),
            readback_verify: flag(OTA_FLAG_READBACK_VERIFY),
            slot_size: cfg.slot_size,
            max_attempts: or_default(cfg.max_attempts, OTA_DEFAULT_MAX_ATTEMPTS).min(255) as u8,
            progress_interval_ms: or_default(
                cfg.progress_interval_ms,
                OTA_DEFAULT_PROGRESS_INTERVAL_MS,
            )
            .max(OTA_MIN_PROGRESS_INTERVAL_MS),
            stall_timeout_ms: or_default(cfg.stall_timeout_ms, OTA_DEFAULT_STALL_TIMEOUT_MS),
            journal_interval: or_default(cfg.journal_interval, OTA_DEFAULT_JOURNAL_INTERVAL),
        },
        host_mqtt,
        module: None,
        cert_auth: flag(OTA_FLAG_CERT_AUTH),
    };
    // SAFETY (the block): strings as documented in ota_config.
    unsafe {
        c.product_id = c_str(cfg.product_id, OTA_PRODUCT_ID_MAX)?;
        c.device_name = c_str(cfg.device_name, OTA_DEVICE_NAME_MAX)?;
        // Not needed with the host's MQTT (a gateway may not hold its sub-devices' secrets),
        // nor with certificate authentication.
        if !(cfg.device_secret.is_null() && (host_mqtt || c.cert_auth)) {
            c.device_secret = c_str(cfg.device_secret, 128)?;
        }
        c.running_version = c_str(cfg.running_version, OTA_VERSION_MAX)?;
        if !cfg.broker_host.is_null() {
            c.broker_host = Some(c_str(cfg.broker_host, OTA_HOST_MAX)?);
        }
        if !cfg.fw_type.is_null() {
            c.module = Some(c_str(cfg.fw_type, 16)?);
        }
    }
    // With the host's MQTT the library needs no MQTT buffers.
    // SAFETY: the buffers are lent until ota_deinit (documented in ota_config).
    let optional = |p: *mut u8, len: usize| match p.is_null() && host_mqtt {
        true => Ok(&mut [][..]),
        false => unsafe { buffer(p, len) },
    };
    let b = Buffers {
        mqtt_rx: optional(cfg.mqtt_rx_buf, cfg.mqtt_rx_len)?,
        mqtt_tx: optional(cfg.mqtt_tx_buf, cfg.mqtt_tx_len)?,
        // SAFETY: as above.
        http: unsafe { buffer(cfg.http_buf, cfg.http_len)? },
    };
    // SAFETY (the block): the anchors and the client credentials are lent until ota_deinit
    // (documented in ota_config).
    let t = unsafe {
        TlsSetup {
            buf: buffer(cfg.tls_buf, tls_len).unwrap_or(&mut []),
            ca: bytes(cfg.ca, cfg.ca_len)?,
            // Only the built-in TLS presents them (the host's TLS holds its own).
            #[cfg(feature = "tls")]
            client_cert: bytes(cfg.client_cert, cfg.client_cert_len)?,
            #[cfg(feature = "tls")]
            client_key: bytes(cfg.client_key, cfg.client_key_len)?,
        }
    };
    let s = client.cast::<Storage>();
    // SAFETY: `client` is valid, aligned storage of OTA_CLIENT_SIZE bytes (asserted above).
    unsafe {
        addr_of_mut!((*s).magic).write(0);
        // Built in place: a client on this stack would be 2.6 KiB more at init (see README).
        let slot = &mut *addr_of_mut!((*s).client);
        Client::blank_in(slot, &c, b, t, plat.into())?.fill(&c)
    }
}

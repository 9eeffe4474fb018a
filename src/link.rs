//! The client's two connections (MQTT broker, firmware server) over the host's sockets: plain
//! bytes, TLS by the host (`OTA_NET_TLS` at connect), or the built-in TLS ([`crate::tls`], cargo
//! feature `tls`) on top of a plain host socket. The client reads and writes through here and
//! never needs to know which.

use crate::error::Error;
use crate::platform::{Channel, NetError, Platform, Socket};
#[cfg(doc)]
use crate::platform::{NET_CLIENT_CERT, NET_TLS};

/// What the host lends for the built-in TLS. Unused without the `tls` feature or with
/// `host_tls`.
#[derive(Default)]
pub struct TlsSetup<'b> {
    /// Receive buffer: at least `tls::MIN_RX` per connection that uses the built-in TLS
    /// (HTTPS downloads; MQTT too with `mqtt_tls`, then the first `MIN_RX` bytes are MQTT's).
    pub buf: &'b mut [u8],
    /// Extra trust anchors for both connections: PEM (one or more certificates) or one DER
    /// certificate. Borrowed for the client's lifetime.
    pub ca: &'b [u8],
    /// Certificate authentication: the device's certificate (PEM chain or one DER certificate)
    /// and private key (PEM or DER: PKCS#8, PKCS#1 RSA or SEC1 EC) the built-in TLS presents to
    /// the broker. Borrowed, never copied by the library nor logged. (Built-in TLS only: the
    /// host's TLS holds its own.)
    #[cfg(feature = "tls")]
    pub client_cert: &'b [u8],
    #[cfg(feature = "tls")]
    pub client_key: &'b [u8],
}

/// The built-in TLS's smallest receive buffer per connection, under the name users of `Links` know.
#[cfg(feature = "tls")]
pub use crate::tls::MIN_RX as MIN_TLS_RX;

pub struct Links<'b> {
    /// TLS connections are the host's (always, without the `tls` feature).
    host_tls: bool,
    #[cfg(feature = "tls")]
    tls: crate::tls::Tls<'b>,
    #[cfg(not(feature = "tls"))]
    _setup: core::marker::PhantomData<TlsSetup<'b>>,
}

impl<'b> Links<'b> {
    /// `mqtt_tls`: the broker link is TLS; `host_tls`: the host opens every TLS connection;
    /// `cert_auth`: the broker link authenticates with the device certificate (the built-in
    /// TLS presents `setup`'s; the host's TLS is asked by the caller's [`NET_CLIENT_CERT`]).
    pub fn new(
        setup: TlsSetup<'b>,
        mqtt_tls: bool,
        host_tls: bool,
        cert_auth: bool,
    ) -> Result<Self, Error> {
        #[cfg(feature = "tls")]
        {
            let builtin = mqtt_tls && !host_tls;
            let client = (builtin && cert_auth).then_some((setup.client_cert, setup.client_key));
            let tls = crate::tls::Tls::new(setup.buf, setup.ca, builtin, client)?;
            Ok(Links { host_tls, tls })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (setup, mqtt_tls, host_tls, cert_auth);
            Ok(Links {
                host_tls: true,
                _setup: core::marker::PhantomData,
            })
        }
    }

    /// Open a connection; with `net` flags ([`NET_TLS`], and [`NET_CLIENT_CERT`] for
    /// certificate authentication) either the host's TLS or a built-in session on a plain one
    /// (which presents the certificate itself).
    pub fn open<P: Platform>(
        &mut self,
        plat: &mut P,
        ch: Channel,
        host: &str,
        port: u16,
        net: u32,
    ) -> Result<Socket, Error> {
        let builtin = net != 0 && !self.host_tls;
        let sock = plat
            .connect(ch, host, port, if builtin { 0 } else { net })
            .map_err(|_| Error::NetConnect)?;
        #[cfg(feature = "tls")]
        if builtin && let Err(e) = self.tls.open(ch, host) {
            plat.close(sock);
            return Err(e);
        }
        Ok(sock)
    }

    pub fn send<P: Platform>(
        &mut self,
        plat: &mut P,
        ch: Channel,
        sock: Socket,
        buf: &[u8],
    ) -> Result<usize, NetError> {
        #[cfg(feature = "tls")]
        if self.tls.is_open(ch) {
            return self.tls.send(plat, ch, sock, buf);
        }
        let _ = ch;
        plat.send(sock, buf)
    }

    pub fn recv<P: Platform>(
        &mut self,
        plat: &mut P,
        ch: Channel,
        sock: Socket,
        buf: &mut [u8],
    ) -> Result<usize, NetError> {
        #[cfg(feature = "tls")]
        if self.tls.is_open(ch) {
            return self.tls.recv(plat, ch, sock, buf);
        }
        let _ = ch;
        plat.recv(sock, buf)
    }

    pub fn close<P: Platform>(&mut self, plat: &mut P, ch: Channel, sock: Socket) {
        #[cfg(feature = "tls")]
        self.tls.close(ch);
        let _ = ch;
        plat.close(sock);
    }

    /// Bytes that arrived are waiting inside the library (a whole TLS record, or decrypted
    /// data): the next poll can make progress without the socket becoming readable.
    pub fn pending(&self, ch: Channel) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.pending(ch);
        #[cfg(not(feature = "tls"))]
        {
            let _ = ch;
            false
        }
    }

    /// Why the channel's connection failed: a TLS failure says more than the network error
    /// `e` it surfaced as.
    pub fn cause(&self, ch: Channel, e: Error) -> Error {
        #[cfg(feature = "tls")]
        if e == Error::NetIo {
            return self.tls.error(ch).unwrap_or(e);
        }
        let _ = ch;
        e
    }
}

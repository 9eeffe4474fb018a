//! The client storage inside `ota_client` and the one entry gate every `ota_*` call goes
//! through: initialised, not busy (re-entered from a callback), deferred commands applied after.

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};

use super::callbacks::CPlatform;
use super::constants::*;
use crate::client::Client;
use crate::error::Error;

/// Storage for one client. Declare it (static or on a long-lived stack) and pass it to ota_init().
/// It holds no pointer into itself, so it may be moved (memcpy) between ota_* calls, never while
/// one runs (e.g. from a callback); the moved-from copy must not be used again (both would drive
/// the same buffers and sockets). The buffers and ca lent in ota_config do not move with it.
#[repr(C)]
pub struct ota_client {
    /// Opaque; u64 words give the storage 8-byte alignment on every target.
    pub _opaque: [u64; OTA_CLIENT_WORDS],
}

// ---------------------------------------------------------------------------------------------
// Client storage
// ---------------------------------------------------------------------------------------------

type CClient = Client<'static, CPlatform>;

pub(super) const MAGIC: u32 = 0x4F54_4131; // "OTA1"
pub(super) const CMD_NONE: u32 = 0;
pub(super) const CMD_ACCEPT: u32 = 1;
pub(super) const CMD_DECLINE: u32 = 2;
pub(super) const CMD_DEFER: u32 = 3;
pub(super) const CMD_CONFIRM: u32 = 4;

/// What lives inside `ota_client`. `magic`, `busy` and the deferred command are touched only
/// through raw pointers, so a callback re-entering the library never aliases the `&mut` to
/// `client` held by the outer call.
#[repr(C)]
pub(super) struct Storage {
    pub(super) magic: u32,
    pub(super) busy: u32,
    pub(super) cmd: u32,
    pub(super) cmd_arg: u32,
    pub(super) client: MaybeUninit<CClient>,
}

const _: () = assert!(core::mem::size_of::<Storage>() <= OTA_CLIENT_SIZE);
const _: () = assert!(crate::journal::RECORD_LEN <= OTA_RECORD_SIZE);
const _: () = assert!(core::mem::align_of::<Storage>() <= 8);
const _: () = assert!(OTA_CLIENT_WORDS * 8 == OTA_CLIENT_SIZE);
const _: () = assert!(OTA_CLIENT_SIZE_32.is_multiple_of(8) && OTA_CLIENT_SIZE_64.is_multiple_of(8));
// A 16-bit or 128-bit target would need its own bound.
const _: () = assert!(cfg!(target_pointer_width = "32") || cfg!(target_pointer_width = "64"));
// cbindgen drops arrays sized by expressions, so ota_status spells 33 out.
const _: () = assert!(OTA_VERSION_MAX + 1 == 33);

/// The storage behind `c`, when it holds an initialised client.
///
/// # Safety
/// `c` is NULL or points to an `ota_client` the caller owns.
unsafe fn storage(c: *mut ota_client) -> Result<*mut Storage, Error> {
    if c.is_null() {
        return Err(Error::NullPointer);
    }
    let s = c.cast::<Storage>();
    // SAFETY: `c` is valid for OTA_CLIENT_SIZE bytes and suitably aligned; the header fields are
    // plain integers, read without forming a reference to the whole storage.
    if unsafe { addr_of!((*s).magic).read() } != MAGIC {
        return Err(Error::NotInitialized);
    }
    Ok(s)
}

/// The initialised, non-busy client in `c`, now marked busy; [`leave`] follows. One copy of
/// these checks for every entry point (`with_client` is instantiated per closure).
///
/// # Safety
/// As for [`storage`].
#[inline(never)]
unsafe fn enter<'a>(c: *mut ota_client) -> Result<&'a mut CClient, Error> {
    // SAFETY: forwarded caller contract; header fields through raw pointers (see `Storage`).
    unsafe {
        let s = storage(c)?;
        if addr_of!((*s).busy).read() != 0 {
            return Err(Error::Busy);
        }
        addr_of_mut!((*s).busy).write(1);
        Ok((*addr_of_mut!((*s).client)).assume_init_mut())
    }
}

/// Applies the commands a callback deferred, then clears busy.
///
/// # Safety
/// `c` was just [`enter`]ed, and the reference `enter` gave is no longer used.
#[inline(never)]
unsafe fn leave(c: *mut ota_client) {
    let s = c.cast::<Storage>();
    // SAFETY: as promised by the caller; header fields through raw pointers.
    unsafe {
        let client = (*addr_of_mut!((*s).client)).assume_init_mut();
        loop {
            let cmd = addr_of!((*s).cmd).read();
            if cmd == CMD_NONE {
                break;
            }
            addr_of_mut!((*s).cmd).write(CMD_NONE);
            let arg = addr_of!((*s).cmd_arg).read();
            let _ = run(client, cmd, arg);
        }
        addr_of_mut!((*s).busy).write(0);
    }
}

/// Run `f` on an initialised, non-busy client; applies commands a callback deferred.
///
/// # Safety
/// As for [`storage`].
pub(super) unsafe fn with_client<R>(
    c: *mut ota_client,
    f: impl FnOnce(&mut CClient) -> R,
) -> Result<R, Error> {
    // SAFETY: forwarded caller contract; the client reference ends with `f`.
    unsafe {
        let r = f(enter(c)?);
        leave(c);
        Ok(r)
    }
}

/// A decision taken from inside a callback: stored, applied when the outer call returns.
///
/// # Safety
/// As for [`storage`].
pub(super) unsafe fn command(c: *mut ota_client, cmd: u32, arg: u32) -> i32 {
    // SAFETY: forwarded caller contract; header fields only, through raw pointers.
    unsafe {
        let s = match storage(c) {
            Ok(s) => s,
            Err(e) => return e.code(),
        };
        if addr_of!((*s).busy).read() != 0 {
            addr_of_mut!((*s).cmd).write(cmd);
            addr_of_mut!((*s).cmd_arg).write(arg);
            return OTA_OK;
        }
        code(with_client(c, |cl| run(cl, cmd, arg)).and_then(|r| r))
    }
}

fn run(c: &mut CClient, cmd: u32, arg: u32) -> Result<(), Error> {
    match cmd {
        CMD_ACCEPT => c.accept(),
        CMD_DECLINE => c.decline(),
        CMD_CONFIRM => c.confirm(),
        _ => c.defer(arg),
    }
}

pub(super) fn code(r: Result<(), Error>) -> i32 {
    match r {
        Ok(()) => OTA_OK,
        Err(e) => e.code(),
    }
}

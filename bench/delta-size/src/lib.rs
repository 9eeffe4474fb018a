//! Keep-alive entry points for measuring the delta decoder's code size: what the engine will
//! call (feed patch bytes, resume from a checkpoint, parse the header), with the base read and
//! the slot write behind C function pointers as on a device. Not a supported API.
#![no_std]
#![allow(improper_ctypes_definitions)]

use qcloud_ota::delta::checkpoint::CHECKPOINT_LEN;
use qcloud_ota::delta::header::HEADER_LEN;
use qcloud_ota::delta::{Checkpoint, Header, IoError, Patch, PatchIo};

pub struct CIo {
    pub read: extern "C" fn(offset: u32, buf: *mut u8, len: usize) -> i32,
    pub write: extern "C" fn(data: *const u8, len: usize) -> i32,
}

impl PatchIo for CIo {
    fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), IoError> {
        if (self.read)(offset, buf.as_mut_ptr(), buf.len()) == 0 {
            Ok(())
        } else {
            Err(IoError)
        }
    }
    fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        if (self.write)(data.as_ptr(), data.len()) == 0 {
            Ok(())
        } else {
            Err(IoError)
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn delta_init(p: &mut Patch, target_size: u32, base_size: u32) {
    *p = Patch::new(target_size, base_size);
}

/// One download chunk (here a fixed-size block, so no raw-pointer slice is needed).
#[unsafe(no_mangle)]
pub extern "C" fn delta_feed(p: &mut Patch, chunk: &[u8; 256], len: usize, io: &mut CIo) -> i32 {
    let data = chunk.get(..len).unwrap_or_default();
    match p.feed_until(data, io, |off| off & 63 == 0) {
        Ok(fed) => fed.consumed as i32,
        Err(_) => -1,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn delta_finish(p: &Patch) -> i32 {
    p.finish().map_or(-1, |()| 0)
}

#[unsafe(no_mangle)]
pub extern "C" fn delta_resume(
    p: &mut Patch,
    cp: &[u8; CHECKPOINT_LEN],
    target_size: u32,
    base_size: u32,
    io: &mut CIo,
    slot_read: extern "C" fn(offset: u32, buf: *mut u8, len: usize) -> i32,
) -> i32 {
    let Some(cp) = Checkpoint::from_bytes(cp) else {
        return -1;
    };
    let read = |off: u32, buf: &mut [u8]| {
        if slot_read(off, buf.as_mut_ptr(), buf.len()) == 0 {
            Ok(())
        } else {
            Err(IoError)
        }
    };
    p.resume(&cp, target_size, base_size, io, read)
        .map_or(-1, |()| 0)
}

#[unsafe(no_mangle)]
pub extern "C" fn delta_header(file: &[u8; HEADER_LEN], out: &mut u32) -> i32 {
    match Header::parse(file) {
        Ok(h) => {
            *out = h.target_size
                ^ h.base_size
                ^ u32::from(h.base_md5[0])
                ^ h.base_version().len() as u32;
            0
        }
        Err(_) => -1,
    }
}

//! Firmware images, their MD5, and Tencent's `device_info.json`.

use md5::{Digest, Md5};
use std::io;
use std::path::Path;

/// A deterministic pseudo-random image of `size` bytes (splitmix64 stream from `seed`).
/// The same `(size, seed)` always gives the same bytes, so a demo can regenerate or compare it.
pub fn generate_image(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// MD5 of `data` as 32 lowercase hex characters (the form of `md5sum` in `update_firmware`).
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Tencent's `device_info.json` (the format of the C and Python SDKs) for a key-authenticated
/// device. Fields the stand-in does not know keep the SDK template's placeholders.
pub fn device_info_json(product_id: &str, device_name: &str, device_secret: &str) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    format!(
        concat!(
            "{{\n",
            "    \"auth_mode\":\"KEY\",\n",
            "    \"productId\":{},\n",
            "    \"productSecret\":\"YOUR_PRODUCT_SECRET\",\n",
            "    \"deviceName\":{},\n",
            "    \"key_deviceinfo\":{{\n",
            "        \"deviceSecret\":{}\n",
            "    }},\n",
            "    \"cert_deviceinfo\":{{\n",
            "        \"devCertFile\":\"YOUR_DEVICE_CERT_FILE_NAME\",\n",
            "        \"devPrivateKeyFile\":\"YOUR_DEVICE_PRIVATE_KEY_FILE_NAME\"\n",
            "    }},\n",
            "    \"subDev\":{{\n",
            "        \"sub_productId\":\"YOUR_SUBDEV_PRODUCT_ID\",\n",
            "        \"sub_devName\":\"YOUR_SUBDEV_DEVICE_NAME\"\n",
            "    }},\n",
            "    \"region\":\"china\"\n",
            "}}\n"
        ),
        q(product_id),
        q(device_name),
        q(device_secret)
    )
}

/// Writes [`device_info_json`] to `path`.
pub fn write_device_info(
    path: impl AsRef<Path>,
    product_id: &str,
    device_name: &str,
    device_secret: &str,
) -> io::Result<()> {
    std::fs::write(
        path,
        device_info_json(product_id, device_name, device_secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_deterministic() {
        assert_eq!(generate_image(1000, 7), generate_image(1000, 7));
        assert_ne!(generate_image(1000, 7), generate_image(1000, 8));
        assert_eq!(generate_image(13, 1).len(), 13);
        assert_eq!(&generate_image(100, 1)[..13], &generate_image(13, 1)[..]);
    }

    #[test]
    fn md5_of_empty() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn device_info_parses() {
        let v: serde_json::Value =
            serde_json::from_str(&device_info_json("PID", "dev\"1", "c2VjcmV0")).unwrap();
        assert_eq!(v["productId"], "PID");
        assert_eq!(v["deviceName"], "dev\"1");
        assert_eq!(v["key_deviceinfo"]["deviceSecret"], "c2VjcmV0");
        assert_eq!(v["auth_mode"], "KEY");
        assert_eq!(v["region"], "china");
    }
}

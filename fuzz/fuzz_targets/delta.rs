#![no_main]
// The body lives in fuzz/src/lib.rs, shared with the stable smoke test tests/fuzz_smoke.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| qcloud_ota_fuzz::delta(data));

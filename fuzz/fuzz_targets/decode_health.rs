#![no_main]

#[path = "../targets/adapters.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::decode_health(data));

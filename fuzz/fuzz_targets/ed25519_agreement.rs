#![no_main]

#[path = "../targets/vc.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ed25519_agreement(data));

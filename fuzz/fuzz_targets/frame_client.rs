//! Arbitrary bytes, in arbitrary pieces, to a client-role connection.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wscore_fuzz::fuzz_frames(wscore::Role::Client, data));

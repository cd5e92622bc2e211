//! Arbitrary bytes, in arbitrary pieces, to a server-role connection with permessage-deflate
//! negotiated under arbitrary parameters: compressed frames, bombs, invalid deflate data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wscore_fuzz::fuzz_deflate(wscore::Role::Server, data));

#![no_main]
//! Fuzz target `tiles`: see `suanli_tests::fuzzing::tiles` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::tiles(data);
});

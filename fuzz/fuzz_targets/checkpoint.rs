#![no_main]
//! Fuzz target `checkpoint`: see `suanli_tests::fuzzing::checkpoint` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::checkpoint(data);
});

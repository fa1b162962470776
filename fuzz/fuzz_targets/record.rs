#![no_main]
//! Fuzz target `record`: see `suanli_tests::fuzzing::record` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::record(data);
});

#![no_main]
//! Fuzz target `export`: see `suanli_tests::fuzzing::export` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::export(data);
});

#![no_main]
//! Fuzz target `csv`: see `suanli_tests::fuzzing::csv` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::csv(data);
});

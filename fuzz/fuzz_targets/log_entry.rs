#![no_main]
//! Fuzz target `log_entry`: see `suanli_tests::fuzzing::log_entry` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::log_entry(data);
});

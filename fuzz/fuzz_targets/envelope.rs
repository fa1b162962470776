#![no_main]
//! Fuzz target `envelope`: see `suanli_tests::fuzzing::envelope` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::envelope(data);
});

#![no_main]
//! Fuzz target `witness`: see `suanli_tests::fuzzing::witness` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::witness(data);
});

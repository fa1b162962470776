#![no_main]
//! Fuzz target `program`: see `suanli_tests::fuzzing::program` for what it decodes and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    suanli_tests::fuzzing::program(data);
});

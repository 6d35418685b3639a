#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flags::fuzzing::command_line(data));

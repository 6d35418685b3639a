//! `flags spin`: frames, erase, answer, and the frozen spinner of blocking code.

use crate::common;

fn run(mode: &str, seconds: &str, frames: &str) -> String {
    let assert = common::flags()
        .args([
            "spin",
            "--mode",
            mode,
            "--seconds",
            seconds,
            "--frames",
            frames,
        ])
        .assert()
        .success();
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn frame_count(out: &str) -> usize {
    ["\\", "|", "/", "-"]
        .iter()
        .map(|f| out.matches(&format!("\r{f} thinking!")).count())
        .sum()
}

const ERASE_THEN_ANSWER: &str = "\r           \rAnswer: 42\n";

#[test]
fn thread_and_async_spin_for_the_whole_duration_then_erase_and_answer() {
    for mode in ["thread", "async", "async-offload"] {
        let out = run(mode, "1s", "always");
        let frames = frame_count(&out);
        // 100 ms a frame for a second: about 10, fewer on a busy machine.
        // What matters is that it moves: a frozen spinner draws exactly 1.
        assert!(frames >= 2, "{mode}: {frames} frames in {out:?}");
        let (object, frames) = out.split_once('\n').unwrap();
        assert!(object.starts_with("spinner object: "), "{mode}: {out:?}");
        assert!(
            frames.starts_with("\r\\ thinking!\r| thinking!"),
            "{mode}: {out:?}"
        );
        assert!(out.ends_with(ERASE_THEN_ANSWER), "{mode}: {out:?}");
    }
}

#[test]
fn blocking_the_runtime_freezes_the_spinner() {
    let out = run("blocking", "0.6s", "always");
    assert_eq!(frame_count(&out), 1, "{out:?}");
    assert!(out.ends_with(ERASE_THEN_ANSWER), "{out:?}");
}

#[test]
fn without_a_terminal_the_message_is_printed_once() {
    let out = run("async", "0.2s", "auto");
    assert_eq!(
        out,
        "spinner object: JoinHandle { id: Id(1) }\nthinking!\nAnswer: 42\n"
    );
    let out = run("thread", "0.2s", "auto");
    assert!(
        out.starts_with("spinner object: Thread { id: ThreadId(")
            && out.contains("name: Some(\"spinner\")")
            && out.ends_with("}\nthinking!\nAnswer: 42\n"),
        "{out:?}"
    );
}

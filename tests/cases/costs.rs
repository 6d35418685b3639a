//! `flags costs`: the table and its JSON have their shape, and the orderings
//! that hold on any machine hold here.

use std::collections::BTreeMap;

use crate::common::{flags, json};

#[test]
fn costs_json_has_every_measure_and_the_orderings_that_hold_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let output = flags()
        .args(["costs", "--json", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output.stdout);
    let times: BTreeMap<&str, &serde_json::Value> = report["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t))
        .collect();
    for key in [
        "function_call",
        "mutex_uncontended",
        "mutex_contended",
        "memory_read_miss",
        "thread_spawn",
        "task_spawn",
        "thread_wakeup",
        "task_wakeup",
        "loopback_round_trip",
        "getaddrinfo_localhost",
        "save_output",
        "embedded_request",
        "tls_full_handshake",
        "tls_resumed_handshake",
    ] {
        let t = times
            .get(key)
            .unwrap_or_else(|| panic!("no {key}: {report}"));
        let (p10, median, p90) = (
            t["p10_ns"].as_f64().unwrap(),
            t["median_ns"].as_f64().unwrap(),
            t["p90_ns"].as_f64().unwrap(),
        );
        assert!(0.0 < p10 && p10 <= median && median <= p90, "{key}: {t}");
    }
    let median = |key: &str| times[key]["median_ns"].as_f64().unwrap();
    // Cheapest first.
    let medians: Vec<f64> = report["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["median_ns"].as_f64().unwrap())
        .collect();
    assert!(medians.windows(2).all(|w| w[0] <= w[1]), "{medians:?}");
    assert!(median("task_spawn") < median("thread_spawn"));
    assert!(median("function_call") < median("loopback_round_trip"));
    assert!(median("function_call") < median("memory_read_miss"));
    // A handshake is a connection, round trips and public-key work.
    assert!(median("loopback_round_trip") < median("tls_full_handshake"));
    assert!(median("loopback_round_trip") < median("tls_resumed_handshake"));
    let memory: BTreeMap<&str, f64> = report["memory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].as_str().unwrap(), m["bytes"].as_f64().unwrap()))
        .collect();
    assert!(memory["idle_task"] < memory["idle_thread"], "{memory:?}");
    // The save was made in the folder named, and nothing was left there.
    assert_eq!(report["folders"][0], dir.path().display().to_string());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_costs_table_names_every_measure_on_the_chapters_scale() {
    let dir = tempfile::tempdir().unwrap();
    let assert = flags()
        .args(["costs", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(text.contains("if the cheapest took one second"), "{text}");
    let first = text.lines().nth(3).unwrap_or("");
    assert!(
        first.ends_with("1.0 s"),
        "the cheapest is one second: {first}"
    );
    for what in [
        "a function call",
        "spawning an OS thread and joining it",
        "spawning a tokio task and awaiting it",
        "a loopback TCP round trip",
        "an idle OS thread",
        "an idle tokio task",
    ] {
        assert!(text.contains(what), "{what}: {text}");
    }
}

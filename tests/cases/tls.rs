//! HTTPS in every mode: trust as curl has it (the system's store, which
//! `SSL_CERT_FILE` replaces, plus `--cacert`; `--insecure`), and a
//! certificate that cannot be trusted is one verdict in every mode: exit
//! 1, no file, no retry, a reason that names the certificate's problem.

use crate::common::liar::Expect;
use crate::common::tls::{AnySite, Cert, TLS_SCENARIOS, Trust, tls_site};
use crate::common::{ChildServer, MODES, flags, json, mode_args};

/// `flags BR CN` in `mode` against `url` with `extra` arguments and
/// environment: its exit code, its JSON report and the output folder.
fn fetch(
    mode: &str,
    url: &str,
    extra: &[&str],
    env: &[(&str, &std::path::Path)],
) -> (i32, serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = flags();
    command
        .args(["BR", "CN", "-s", url, "--json", "-o"])
        .arg(dir.path())
        .args(mode_args(mode, "2"))
        .args(extra)
        // The tests' CA is never in this machine's store.
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let report = json(&output.stdout);
    (output.status.code().unwrap_or(-1), report, dir)
}

/// The files a run left in `dir`.
fn files(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn cacert_or_ssl_cert_file_trusts_a_private_ca_in_every_mode() {
    let site = tls_site(Cert::Good);
    let ca = site.ca_pem.to_str().unwrap();
    for mode in MODES {
        for how in ["--cacert", "SSL_CERT_FILE"] {
            let (code, report, dir) = if how == "--cacert" {
                fetch(mode, &site.base_url, &["--cacert", ca], &[])
            } else {
                fetch(
                    mode,
                    &site.base_url,
                    &[],
                    &[("SSL_CERT_FILE", &site.ca_pem)],
                )
            };
            assert_eq!(code, 0, "{mode} {how}: {report}");
            assert_eq!(report["counts"]["ok"], 2, "{mode} {how}");
            for cc in ["BR", "CN"] {
                let saved = std::fs::read(dir.path().join(format!("{cc}.gif"))).unwrap();
                assert_eq!(saved, flags::dataset::flag_gif(cc).unwrap(), "{mode} {how}");
            }
        }
    }
}

#[test]
fn a_ca_only_in_the_stores_folder_is_trusted_as_curl_trusts_it_in_every_mode() {
    // The bundle is read at once, the folder only when a certificate is
    // not trusted without it: a CA found there alone is trusted all the
    // same, and one found nowhere is not.
    let site = tls_site(Cert::Good);
    let unrelated = tls_site(Cert::Good);
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(&site.ca_pem, folder.path().join("site-ca.pem")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    for mode in MODES {
        for (dir, code, ok) in [(folder.path(), 0, 2), (empty.path(), 1, 0)] {
            let env = [
                ("SSL_CERT_FILE", unrelated.ca_pem.as_path()),
                ("SSL_CERT_DIR", dir),
            ];
            let (exit, report, out) = fetch(mode, &site.base_url, &[], &env);
            assert_eq!(exit, code, "{mode}, {}: {report}", dir.display());
            assert_eq!(report["counts"]["ok"], ok, "{mode}");
            if ok == 0 {
                assert!(files(&out).is_empty(), "{mode}");
                // (Both tests CAs bear one name: "bad signature".)
                let reason = report["errors"][0]["reason"].as_str().unwrap_or_default();
                assert!(reason.starts_with("TLS: "), "{mode}: {report}");
            }
        }
        // A folder and no bundle: the folder is the store.
        let env = [("SSL_CERT_DIR", folder.path())];
        let (exit, report, _) = fetch(mode, &site.base_url, &[], &env);
        assert_eq!((exit, &report["counts"]["ok"]), (0, &2.into()), "{mode}");
    }
}

#[test]
fn a_broken_certificate_or_handshake_is_never_retried_and_a_stall_or_cut_is() {
    // Every failing scenario of the TLS matrix (tests/cases/contract.rs),
    // with retries allowed: a certificate or handshake that cannot succeed
    // is given up at once; a stall or a cut body may heal, and is retried.
    let failing = TLS_SCENARIOS
        .iter()
        .filter(|s| matches!(s.expect, Expect::Error(_)));
    for scenario in failing {
        let Expect::Error(reason) = scenario.expect else {
            continue;
        };
        let site = AnySite::start(scenario);
        let mut args = vec![
            "--retries".to_owned(),
            "2".to_owned(),
            "--connect-timeout".to_owned(),
            "300ms".to_owned(),
            "--timeout".to_owned(),
            "600ms".to_owned(),
        ];
        if let (AnySite::Tls(site), Trust::SiteCa) = (&site, scenario.trust) {
            args.extend(["--cacert".to_owned(), site.ca_pem.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let retries = if scenario.permanent() { 0 } else { 2 };
        let name = scenario.name;
        for mode in MODES {
            let (code, report, dir) = fetch(mode, site.base_url(), &args, &[]);
            assert_eq!(code, 1, "{name} {mode}: {report}");
            assert_eq!(report["counts"]["error"], 2, "{name} {mode}: {report}");
            assert!(files(&dir).is_empty(), "{name} {mode}: {:?}", files(&dir));
            for result in report["results"].as_array().unwrap() {
                assert_eq!(result["retries"], retries, "{name} {mode}: {result}");
                let why = result["reason"].as_str().unwrap();
                assert!(why.starts_with(reason), "{name} {mode}: {why}");
            }
        }
    }
}

#[test]
fn insecure_accepts_any_certificate_and_the_header_says_so() {
    let site = tls_site(Cert::SelfSigned);
    for mode in MODES {
        let (code, report, _dir) = fetch(mode, &site.base_url, &["--insecure"], &[]);
        assert_eq!(code, 0, "{mode}: {report}");
        assert_eq!(report["counts"]["ok"], 2, "{mode}");
    }
    let dir = tempfile::tempdir().unwrap();
    let assert = flags()
        .args(["BR", "-k", "-s", &site.base_url, "-o"])
        .arg(dir.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("Insecure: https certificates are not checked (--insecure)."),
        "{stdout}"
    );
}

#[test]
fn a_cacert_that_is_not_a_certificate_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let assert = flags().arg("BR").arg("--cacert").arg(&bad).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr,
        format!(
            "flags: --cacert {}: no certificate in it (a PEM file with BEGIN CERTIFICATE) (see --help)\n",
            bad.display()
        )
    );
}

/// `flags serve --port 0 ARGS` speaking HTTPS, what it writes in the
/// temporary folder going to `tmp`: the child and its base URL, and with
/// `--tls` the CA it names on its second line.
fn serve_https(
    tmp: &std::path::Path,
    args: &[&std::ffi::OsStr],
) -> (ChildServer, String, Option<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flags"))
        .args(["serve", "--port", "0"])
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let serving = lines.next().unwrap().unwrap();
    let url = serving
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no https URL in: {serving}"))
        .to_owned();
    let ca = args.contains(&"--tls".as_ref()).then(|| {
        let https = lines.next().unwrap().unwrap();
        https
            .strip_prefix("HTTPS: its CA is ")
            .unwrap_or_else(|| panic!("no CA in: {https}"))
            .to_owned()
    });
    // Reads what else it prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let server = ChildServer {
        child,
        url: url.clone(),
    };
    (server, url, ca)
}

#[test]
fn flags_serve_tls_names_its_ca_and_every_mode_trusts_it_over_h1_and_h2() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url, ca) = serve_https(tmp.path(), &["--tls".as_ref()]);
    let ca = ca.unwrap();
    assert_eq!(
        std::path::Path::new(&ca).parent(),
        Some(tmp.path()),
        "the CA is written in the temporary folder"
    );
    let url = url.replace("127.0.0.1", "localhost");
    for mode in MODES {
        let (code, report, dir) = fetch(mode, &url, &["--cacert", &ca], &[]);
        assert_eq!(code, 0, "{mode}: {report}");
        for cc in ["BR", "CN"] {
            let saved = std::fs::read(dir.path().join(format!("{cc}.gif"))).unwrap();
            assert_eq!(saved, flags::dataset::flag_gif(cc).unwrap(), "{mode}");
        }
    }
    // HTTP/2, negotiated by ALPN: every stream on the one connection.
    let (code, report, _dir) = fetch("async", &url, &["--cacert", &ca, "--http2"], &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["http"], "2", "{report}");
    assert_eq!(report["connections"], 1, "{report}");
    // Without its CA, its certificate is not trusted.
    let (code, report, _dir) = fetch("async", &url, &[], &[]);
    assert_eq!(code, 1, "{report}");
}

#[test]
fn flags_serve_tls_answers_plain_http_with_a_400_that_says_to_use_https() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url, _ca) = serve_https(tmp.path(), &["--tls".as_ref()]);
    let address = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap();
    // A request larger than one read: the answer arrives whole, not reset.
    let mut tcp = std::net::TcpStream::connect(address).unwrap();
    let cookie = "c".repeat(40 * 1024);
    let request = format!("GET /flags/br/br.gif HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n");
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nThis port speaks HTTPS: use https:// to reach it.\n"),
        "{answer}"
    );
    // Every mode reads it as the same 400.
    let http = url.replace("https://", "http://");
    for mode in MODES {
        let (code, report, dir) = fetch(mode, &http, &["--retries", "0"], &[]);
        assert_eq!(code, 1, "{mode}: {report}");
        for result in report["results"].as_array().unwrap() {
            assert_eq!(result["reason"], "HTTP 400 Bad Request", "{mode}: {result}");
        }
        assert!(files(&dir).is_empty(), "{mode}");
    }
}

#[test]
fn the_embedded_server_speaks_https_with_tls_in_every_mode_and_only_it_does() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let output = flags()
            .args(["BR", "CN", "--tls", "--json", "-o"])
            .arg(dir.path())
            .args(mode_args(mode, "2"))
            .env_remove("SSL_CERT_FILE")
            .output()
            .unwrap();
        let report = json(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{mode}: {report}");
        assert!(
            report["server"]
                .as_str()
                .unwrap()
                .starts_with("https://127.0.0.1:"),
            "{report}"
        );
        let saved = std::fs::read(dir.path().join("BR.gif")).unwrap();
        assert_eq!(saved, flags::dataset::flag_gif("BR").unwrap(), "{mode}");
    }
    let assert = flags()
        .args(["BR", "--tls", "-s", "http://127.0.0.1:9/flags"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with("flags: --tls makes the embedded server speak HTTPS"),
        "{stderr}"
    );
}

#[test]
fn flags_serve_serves_its_operators_certificate_with_tls_cert_and_tls_key() {
    let dir = tempfile::tempdir().unwrap();
    let pems = flags::server::tls::LocalPems::make().unwrap();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca, &pems.ca).unwrap();
    std::fs::write(&cert, &pems.cert).unwrap();
    std::fs::write(&key, &pems.key).unwrap();
    let args = [
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
    ];
    let (server, url, _) = serve_https(dir.path(), &args);
    let (code, report, out) = fetch("threaded", &url, &["--cacert", ca.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{report}");
    let saved = std::fs::read(out.path().join("BR.gif")).unwrap();
    assert_eq!(saved, flags::dataset::flag_gif("BR").unwrap());
    drop(server);
    // A key file that is not one is refused in one line.
    let assert = flags()
        .args(["serve", "--port", "0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&ca)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with(&format!("flags: --tls-key {}: ", ca.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn the_report_counts_tls_handshakes_and_resumed_sessions_in_every_mode() {
    // One request a connection, one at a time: the first handshake is
    // full, the two after it resume its session.
    let site = tls_site(Cert::Good);
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let run = |extra: &[&str]| {
            flags()
                .args(["BR", "CN", "IN", "-s", &site.base_url, "-o"])
                .arg(dir.path())
                .args(mode_args(mode, "1"))
                .arg("--cacert")
                .arg(&site.ca_pem)
                .args(extra)
                .output()
                .unwrap()
        };
        let report = json(&run(&["--json"]).stdout);
        assert_eq!(report["counts"]["ok"], 3, "{mode}: {report}");
        assert_eq!(report["tls"]["handshakes"], 3, "{mode}: {report}");
        assert_eq!(report["tls"]["resumed"], 2, "{mode}: {report}");
        let summary = run(&[]);
        let stdout = String::from_utf8_lossy(&summary.stdout);
        assert!(
            stdout.contains("TLS: 3 handshakes, 2 resumed."),
            "{mode}: {stdout}"
        );
    }
    // Over plain HTTP there is no TLS to count.
    let server = crate::common::server(flags::server::ServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let output = flags()
        .args(["BR", "-s", server.base_url(), "--json", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(json(&output.stdout)["tls"], serde_json::Value::Null);
}

#[test]
fn the_timeline_draws_each_handshake_inside_the_request_that_made_it_in_every_mode() {
    // One request a connection: three handshakes, each the phase of its
    // download's request; a certificate refused is a handshake that ends
    // its request, one a download too.
    let good = tls_site(Cert::Good);
    let refused = tls_site(Cert::SelfSigned);
    for mode in MODES {
        for (site, trusted) in [(&good, true), (&refused, false)] {
            let dir = tempfile::tempdir().unwrap();
            let trace = dir.path().join("trace.json");
            let output = flags()
                .args(["BR", "CN", "IN", "-s", &site.base_url, "--retries", "0"])
                .args(mode_args(mode, "1"))
                .arg("--cacert")
                .arg(&good.ca_pem)
                .arg("--trace")
                .arg(&trace)
                .arg("-o")
                .arg(dir.path().join("out"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let events = json(&std::fs::read(&trace).unwrap());
            let spans = |name: &str| -> Vec<(u64, f64, f64)> {
                events["traceEvents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["name"] == name && e["ph"] == "X")
                    .map(|e| {
                        let start = e["ts"].as_f64().unwrap();
                        let job = e["args"]["job"].as_u64().unwrap();
                        (job, start, start + e["dur"].as_f64().unwrap())
                    })
                    .collect()
            };
            let (shakes, requests) = (spans("TLS handshake"), spans("request"));
            assert_eq!(shakes.len(), 3, "{mode}: {stdout}");
            for (job, start, end) in &shakes {
                assert!(
                    requests
                        .iter()
                        .any(|r| r.0 == *job && r.1 <= *start && *end <= r.2 + 1.0),
                    "{mode}: handshake of job {job} outside its request: {shakes:?} {requests:?}"
                );
            }
            // Each download made its own.
            let jobs: std::collections::BTreeSet<u64> = shakes.iter().map(|s| s.0).collect();
            assert_eq!(jobs.len(), 3, "{mode}: {shakes:?}");
            assert_eq!(
                output.status.code(),
                Some(if trusted { 0 } else { 1 }),
                "{mode}"
            );
            if trusted {
                assert!(
                    stdout.contains("TLS: 3 handshakes, 2 resumed."),
                    "{mode}: {stdout}"
                );
            }
        }
    }
}

//! `--names`: metadata first, then the flag, saved under the country's name.

use crate::common;

use std::path::Path;

use crate::common::{MODES, run_json, server};
use flags::server::{DataSource, ServerConfig};

#[test]
fn names_all_saves_194_files_named_after_the_metadata_in_every_mode() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let report = run_json(&["--names", "--all", "--mode", mode], out.path(), 0);
        assert_eq!(report["counts"]["ok"], 194);
        let saved = common::files(out.path());
        assert_eq!(saved.len(), 194);
        for code in flags::dataset::country_codes() {
            let country = flags::dataset::metadata(&code).unwrap()["country"]
                .as_str()
                .unwrap()
                .to_owned();
            let name = flags::download::pipeline::store::flag_file_name(&code, Some(&country));
            assert_eq!(
                saved.get(&name).map(Vec::as_slice),
                flags::dataset::flag_gif(&code),
                "{mode} {name}"
            );
            let result = report["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["code"] == code.as_str())
                .unwrap();
            assert_eq!(result["country"], country.as_str());
            assert_eq!(result["file"], name.as_str());
        }
        assert!(saved.contains_key("BR-Brazil.gif"));
        assert!(saved.contains_key("US-United_States.gif"));
    }
}

/// A folder in the data set's layout whose metadata is whatever the test says.
fn hostile_site(dir: &Path, entries: &[(&str, Option<&[u8]>)]) {
    for (cc, metadata) in entries {
        let folder = dir.join(cc);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{cc}.gif")), format!("GIF89a-{cc}")).unwrap();
        if let Some(body) = metadata {
            std::fs::write(folder.join("metadata.json"), body).unwrap();
        }
    }
}

#[test]
fn hostile_names_stay_inside_the_output_folder_and_bad_metadata_is_counted() {
    let long = format!(r#"{{"country": "{}"}}"#, "x".repeat(5000));
    let site_dir = tempfile::tempdir().unwrap();
    hostile_site(
        site_dir.path(),
        &[
            ("aa", Some(br#"{"country": "../../etc/x"}"#)),
            ("ab", Some(br#"{"country": "/abs"}"#)),
            ("ac", Some(br#"{"country": "nul\u0000byte"}"#)),
            ("ad", Some(long.as_bytes())),
            ("ae", Some(br#"{"country": "Same"}"#)),
            ("af", Some(br#"{"country": "SAME"}"#)),
            ("ag", Some(br#"{"country": "..."}"#)),
            ("ah", Some(b"{not json")),
            ("ai", Some(br#"{"name": "no country"}"#)),
            ("aj", None),
        ],
    );
    let site = server(ServerConfig {
        source: DataSource::Dir(site_dir.path().to_owned()),
        ..ServerConfig::default()
    });
    for mode in MODES {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        let codes = ["AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ"];
        let args = [
            &["--names", "--mode", mode, "-s", site.base_url()][..],
            &codes[..],
        ]
        .concat();
        let report = run_json(&args, &out, 1);
        assert_eq!(report["counts"]["ok"], 7, "{mode}");
        assert_eq!(report["counts"]["error"], 2, "{mode}");
        assert_eq!(report["counts"]["not_found"], 1, "{mode}");
        let results = report["results"].as_array().unwrap();
        let reason =
            |code: &str| results.iter().find(|r| r["code"] == code).unwrap()["reason"].clone();
        assert!(
            reason("AH")
                .as_str()
                .unwrap()
                .starts_with("invalid metadata: not JSON"),
            "{mode}"
        );
        assert_eq!(reason("AI"), "invalid metadata: no 'country' field");
        // Nothing outside the output folder, every file inside it is a flag.
        let outside: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(outside, vec![std::ffi::OsString::from("out")]);
        let saved = common::files(&out);
        assert_eq!(saved.len(), 7, "{mode}: {:?}", saved.keys());
        for (name, bytes) in &saved {
            assert!(name.ends_with(".gif") && !name.starts_with('.'), "{name}");
            assert!(name.len() <= 110, "{name}");
            assert_eq!(
                bytes,
                format!("GIF89a-{}", name[..2].to_lowercase()).as_bytes()
            );
        }
        assert!(saved.contains_key("AA-etc_x.gif"));
        assert!(saved.contains_key("AB-abs.gif"));
        assert!(saved.contains_key("AE-Same.gif") && saved.contains_key("AF-SAME.gif"));
        assert!(
            saved.contains_key("AG.gif"),
            "a name that reduces to nothing falls back to the code"
        );
    }
}

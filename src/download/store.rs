//! Saving downloaded flags: safe file names and atomic writes, so a crash or an
//! interrupt never leaves a half-written file under a final name.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of temporary files, so that leftovers can be recognised and removed.
pub const TEMP_PREFIX: &str = ".flags-partial-";

/// Longest country-name part of a file name, in bytes.
const MAX_NAME_BYTES: usize = 100;

/// The file name of a flag: `<CC>.gif`, or `<CC>-<Country_Name>.gif` when a
/// country name is given (a code with no letters becomes `XX`). The name is untrusted input from the network, so it
/// is reduced to letters, digits, `_`, `-`, `.` and `,` (anything else, such
/// as spaces, slashes and control characters, becomes `_`),
/// never starts with a dot, and is capped in length; a name that reduces to
/// nothing falls back to the code alone. The code keeps names unique, and the
/// prefix `<CC>-` keeps clear of Windows' reserved names (CON, NUL, ...).
pub fn flag_file_name(code: &str, country: Option<&str>) -> String {
    let code: String = code
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .take(2)
        .collect();
    let code = if code.is_empty() {
        "XX".to_owned()
    } else {
        code
    };
    let safe = country.map(safe_name_part).unwrap_or_default();
    if safe.is_empty() {
        format!("{code}.gif")
    } else {
        format!("{code}-{safe}.gif")
    }
}

/// Reduces an untrusted name to a harmless file-name fragment.
fn safe_name_part(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let mapped = match c {
            c if c.is_alphanumeric() => c,
            ' ' | '_' => '_',
            '-' | ',' | '.' => c,
            _ => '_',
        };
        if out.len() + mapped.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(mapped);
    }
    // No leading or trailing dots or underscores, no runs of them, no "..".
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        let last = collapsed.chars().last();
        if matches!(c, '_' | '.') && (last == Some(c) || last.is_none()) {
            continue;
        }
        collapsed.push(c);
    }
    collapsed
        .trim_matches(|c| matches!(c, '_' | '.' | '-'))
        .to_owned()
}

/// Writes `bytes` to `dir/name` atomically: a temporary file in the same
/// folder, then renamed over the final name. On any error the temporary file
/// is removed and no final file appears. A process that dies at any point
/// leaves either the whole file or none under the final name. There is no
/// fsync: surviving a power cut is not worth one disk flush per flag, which
/// would make the disk, not the network, what the benchmark measures.
pub fn save_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let target = dir.join(name);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(&target).map_err(|e| e.error)?;
    Ok(target)
}

/// Checks that `dir` exists (creating it if missing) and can be written,
/// before any request is made.
pub fn prepare_output_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let probe = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    probe.close()
}

/// Removes temporary files left in `dir` by an interrupted run.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The existing file of `code` in `dir`, if a previous run saved one
/// (`<CC>.gif` or `<CC>-<name>.gif`).
pub fn existing_flag(dir: &Path, code: &str) -> Option<PathBuf> {
    let plain = format!("{code}.gif");
    let named = format!("{code}-");
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ok = name == plain || (name.starts_with(&named) && name.ends_with(".gif"));
        ok.then(|| entry.path())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(flag_file_name("br", None), "BR.gif");
        assert_eq!(flag_file_name("BR", Some("Brazil")), "BR-Brazil.gif");
        assert_eq!(
            flag_file_name("US", Some("United States")),
            "US-United_States.gif"
        );
        assert_eq!(flag_file_name("XX", Some("../../etc/x")), "XX-etc_x.gif");
        assert_eq!(flag_file_name("XX", Some("/abs")), "XX-abs.gif");
        assert_eq!(flag_file_name("XX", Some("a\0b")), "XX-a_b.gif");
        assert_eq!(flag_file_name("XX", Some("...")), "XX.gif");
        assert_eq!(flag_file_name("XX", Some("CON")), "XX-CON.gif");
        assert_eq!(
            flag_file_name("XX", Some(&"x".repeat(5000))).len(),
            "XX-.gif".len() + 100
        );
        assert_eq!(
            flag_file_name("CI", Some("Côte d'Ivoire")),
            "CI-Côte_d_Ivoire.gif"
        );
    }

    #[test]
    fn atomic_save_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = save_atomic(dir.path(), "BR.gif", b"GIF89a").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"GIF89a");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("BR.gif")]);
        assert_eq!(existing_flag(dir.path(), "BR"), Some(path));
        assert_eq!(existing_flag(dir.path(), "US"), None);
    }
}

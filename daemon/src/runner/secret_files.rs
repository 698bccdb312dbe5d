//! The tar archive that puts a job's secret files at `/run/secrets/NAME` in its container. Built
//! in memory (a temporary file would leave the values on the host's disk).

use crate::secrets::Value;

/// An archive of `run/secrets/` and one file per secret: mode 0400 owned by root when the job
/// runs as root, else 0444, so the image's user can read them whatever it is.
pub fn archive(files: &[(String, Value)], as_root: bool) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let dir = crate::secrets::FILES_DIR.trim_start_matches('/');
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(0);
    builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    for (name, value) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if as_root { 0o400 } else { 0o444 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(value.bytes().len() as u64);
        builder.append_data(&mut header, format!("{dir}/{name}"), value.bytes())?;
    }
    builder.into_inner()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn files_land_under_run_secrets_with_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "line one\nline two\n").unwrap();
        let value = crate::secrets::Source::File(dir.path().join("k"))
            .read()
            .unwrap();
        let bytes = archive(&[("DEPLOY_KEY".into(), value)], true).unwrap();
        let mut tar = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            seen.push((path, mode, content));
        }
        assert_eq!(
            seen,
            [
                ("run/secrets/".to_string(), 0o755, String::new()),
                (
                    "run/secrets/DEPLOY_KEY".to_string(),
                    0o400,
                    "line one\nline two\n".to_string()
                ),
            ]
        );
    }
}

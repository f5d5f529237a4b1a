//! The Rust guest SDK (`guests/sdk`, crate `arbor-guest`) as `arbor new
//! --lang rust` writes it into a project: its sources, embedded in this
//! binary, become the project's path dependency `arbor-guest/`, so the
//! project builds anywhere without the SDK on crates.io or this repository.

/// The SDK's files, as (path in the SDK, text). A module added to the SDK
/// must be added here (a test compares this list with `guests/sdk/src`).
const SDK: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../../guests/sdk/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../guests/sdk/src/lib.rs"),
    ),
    (
        "src/actor.rs",
        include_str!("../../../../guests/sdk/src/actor.rs"),
    ),
    (
        "src/bindings.rs",
        include_str!("../../../../guests/sdk/src/bindings.rs"),
    ),
    (
        "src/children.rs",
        include_str!("../../../../guests/sdk/src/children.rs"),
    ),
    (
        "src/crash.rs",
        include_str!("../../../../guests/sdk/src/crash.rs"),
    ),
    (
        "src/export.rs",
        include_str!("../../../../guests/sdk/src/export.rs"),
    ),
    (
        "src/host.rs",
        include_str!("../../../../guests/sdk/src/host.rs"),
    ),
    (
        "src/log.rs",
        include_str!("../../../../guests/sdk/src/log.rs"),
    ),
    (
        "src/timers.rs",
        include_str!("../../../../guests/sdk/src/timers.rs"),
    ),
    (
        "src/typed.rs",
        include_str!("../../../../guests/sdk/src/typed.rs"),
    ),
];

/// Where the SDK reads the contract from: in this repository the top-level
/// `wit/` (two levels up from `guests/sdk`); in a project, the project's own
/// `wit/` beside `arbor-guest/`, which `arbor new` writes in any case.
const REPO_WIT: &str = "\"../../wit\"";
const PROJECT_WIT: &str = "\"../wit\"";

/// The SDK's files as they go into a project, under `arbor-guest/`.
pub(super) fn files() -> Vec<(String, Vec<u8>)> {
    SDK.iter()
        .map(|(path, text)| {
            (
                format!("arbor-guest/{path}"),
                text.replace(REPO_WIT, PROJECT_WIT).into_bytes(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_of_the_sdk_is_embedded() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|entry| format!("src/{}", entry.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SDK
            .iter()
            .map(|(path, _)| path.to_string())
            .filter(|path| path.starts_with("src/"))
            .collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_projects_sdk_reads_the_projects_own_contract() {
        let files = files();
        let bindings = files
            .iter()
            .find(|(path, _)| path == "arbor-guest/src/bindings.rs")
            .map(|(_, text)| String::from_utf8_lossy(text).into_owned())
            .unwrap();
        assert!(
            bindings.contains(&format!("path: {PROJECT_WIT}")),
            "{bindings}"
        );
        assert!(
            !files
                .iter()
                .any(|(_, text)| { String::from_utf8_lossy(text).contains(REPO_WIT) })
        );
    }
}

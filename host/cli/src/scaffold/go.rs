//! What `arbor new --lang go` writes besides its templates: the Go SDK
//! (`guests/go/sdk`, package `arbor`, embedded in this binary) under
//! `arbor/`, wit-bindgen's Go bindings of the contract's world
//! `supervised`, the runtime package those bindings import
//! (`go.bytecodealliance.org/pkg`, from the `wit-bindgen-go` crate, see
//! build.rs) under `go-pkg/`, and the `go.mod` that ties them together. The
//! project then builds with Go alone: nothing is fetched from the Go module
//! proxy.

mod pkg {
    include!(concat!(env!("OUT_DIR"), "/go_pkg.rs"));
}

/// The SDK's files, as (file name, text). A file added to the SDK must be
/// added here (a test compares this list with `guests/go/sdk`).
const SDK: &[(&str, &str)] = &[
    (
        "arbor.go",
        include_str!("../../../../guests/go/sdk/arbor.go"),
    ),
    (
        "children.go",
        include_str!("../../../../guests/go/sdk/children.go"),
    ),
    ("host.go", include_str!("../../../../guests/go/sdk/host.go")),
    ("json.go", include_str!("../../../../guests/go/sdk/json.go")),
    ("log.go", include_str!("../../../../guests/go/sdk/log.go")),
    (
        "timers.go",
        include_str!("../../../../guests/go/sdk/timers.go"),
    ),
    ("trap.go", include_str!("../../../../guests/go/sdk/trap.go")),
    ("trap.s", include_str!("../../../../guests/go/sdk/trap.s")),
];

/// Where the runtime package goes in the project; `go.mod` replaces the
/// module by it.
const PKG_DIR: &str = "go-pkg";

/// Every file of the Go project that is not a template, as (path, bytes).
pub(super) fn files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = SDK
        .iter()
        .map(|(name, text)| (format!("arbor/{name}"), text.as_bytes().to_vec()))
        .collect();
    files.extend(bindings());
    files.extend(
        pkg::FILES
            .iter()
            .map(|(path, bytes)| (format!("{PKG_DIR}/{path}"), bytes.to_vec())),
    );
    files.push(("go.mod".into(), go_mod().into_bytes()));
    files
}

/// The module is `wit_component`, the name the generated packages import
/// each other by; it needs at least the runtime package's Go version.
fn go_mod() -> String {
    format!(
        "module wit_component\n\ngo {}\n\nrequire {}\n\nreplace go.bytecodealliance.org/pkg => ./{PKG_DIR}\n",
        pkg::GO_VERSION,
        wit_bindgen_go::remote_pkg_version(),
    )
}

/// wit-bindgen's Go bindings for the world `supervised`, without the
/// `go.mod` it writes (`go_mod` has the project's).
fn bindings() -> Vec<(String, Vec<u8>)> {
    let (mut resolve, world) = super::contract_world();
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_go::Opts {
        quiet: true,
        ..Default::default()
    }
    .build()
    .generate(&mut resolve, world, &mut files)
    .expect("Go bindings generate for the contract");
    files
        .iter()
        .filter(|(name, _)| *name != "go.mod")
        .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_go_sdk_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/go/sdk");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = SDK.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_go_mod_replaces_the_runtime_package_by_the_copy_in_the_project() {
        let files = files();
        let go_mod = files
            .iter()
            .find(|(path, _)| path == "go.mod")
            .map(|(_, text)| String::from_utf8_lossy(text).into_owned())
            .unwrap();
        assert!(go_mod.starts_with("module wit_component\n"), "{go_mod}");
        assert!(
            go_mod.contains("require go.bytecodealliance.org/pkg v"),
            "{go_mod}"
        );
        assert!(
            go_mod.contains("replace go.bytecodealliance.org/pkg => ./go-pkg\n"),
            "{go_mod}"
        );
        for file in [
            "go-pkg/go.mod",
            "go-pkg/wit/runtime/runtime.go",
            "wit_exports.go",
            "arbor_supervised_host/wit_bindings.go",
            "arbor/arbor.go",
        ] {
            assert!(files.iter().any(|(path, _)| path == file), "{file}");
        }
        assert_eq!(
            files.iter().filter(|(path, _)| path == "go.mod").count(),
            1,
            "only the project's go.mod, not the generator's"
        );
    }
}

//! `arbor new`: a new guest project in Rust, Python or JavaScript that builds
//! and passes `arbor check` as generated.
//!
//! Each project holds its own copy of the guest contract (`wit/arbor.wit`),
//! a minimal guest (`ping`, `count`, `crash`), a `tree.toml` that runs it, and
//! a README with the exact build commands.

use std::path::{Path, PathBuf};

/// The languages `arbor new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Rust with wit-bindgen, built for wasm32-wasip2.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "rust" => Ok(Language::Rust),
            "python" | "py" => Ok(Language::Python),
            "js" | "javascript" => Ok(Language::Js),
            other => Err(format!(
                "unknown language {other:?} (expected rust, python or js)"
            )),
        }
    }
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name a package and a child.
    #[error(
        "invalid guest name {0:?}: use lowercase letters, digits and '_', starting with a letter"
    )]
    InvalidName(String),
    /// The directory is there already.
    #[error("{}: already exists", .0.display())]
    Exists(PathBuf),
    /// Writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

const WIT: &str = include_str!("../../wit/arbor.wit");

fn templates(language: Language, name: &str) -> Vec<(String, &'static str)> {
    match language {
        Language::Rust => vec![
            (
                "Cargo.toml".into(),
                include_str!("../templates/rust/Cargo.toml"),
            ),
            (
                "src/lib.rs".into(),
                include_str!("../templates/rust/lib.rs"),
            ),
            (
                "README.md".into(),
                include_str!("../templates/rust/README.md"),
            ),
            (
                "tree.toml".into(),
                include_str!("../templates/rust/tree.toml"),
            ),
        ],
        Language::Python => vec![
            ("app.py".into(), include_str!("../templates/python/app.py")),
            (
                "build.sh".into(),
                include_str!("../templates/python/build.sh"),
            ),
            (
                "README.md".into(),
                include_str!("../templates/python/README.md"),
            ),
            (
                "tree.toml".into(),
                include_str!("../templates/python/tree.toml"),
            ),
        ],
        Language::Js => vec![
            (
                format!("{name}.js"),
                include_str!("../templates/js/guest.js"),
            ),
            (
                "package.json".into(),
                include_str!("../templates/js/package.json"),
            ),
            (
                "README.md".into(),
                include_str!("../templates/js/README.md"),
            ),
            (
                "tree.toml".into(),
                include_str!("../templates/js/tree.toml"),
            ),
        ],
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Creates `parent/name` with a guest project in `language`; returns its path.
pub fn scaffold(language: Language, name: &str, parent: &Path) -> Result<PathBuf, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::InvalidName(name.to_string()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let mut files = templates(language, name);
    files.push(("wit/arbor.wit".into(), WIT));
    for (relative, template) in files {
        let path = dir.join(&relative);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("files sit in a directory")).map_err(io)?;
        std::fs::write(&path, template.replace("{{name}}", name)).map_err(io)?;
        if relative.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_a_package_and_a_child() {
        assert!(valid_name("orders"));
        assert!(valid_name("order_2"));
        for bad in ["", "Orders", "2x", "a-b", "a b", "a/b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_template_names_the_guest_and_carries_the_contract() {
        let parent = std::env::temp_dir().join(format!("arbor-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        for (language, lang) in [
            (Language::Rust, "rust"),
            (Language::Python, "python"),
            (Language::Js, "js"),
        ] {
            let name = format!("demo_{lang}");
            let dir = scaffold(language, &name, &parent).unwrap();
            let tree = std::fs::read_to_string(dir.join("tree.toml")).unwrap();
            assert!(tree.contains(&format!("{name}.wasm")), "{tree}");
            assert!(!tree.contains("{{"), "{tree}");
            assert_eq!(
                std::fs::read_to_string(dir.join("wit/arbor.wit")).unwrap(),
                WIT
            );
            assert!(matches!(
                scaffold(language, &name, &parent),
                Err(ScaffoldError::Exists(_))
            ));
        }
    }
}

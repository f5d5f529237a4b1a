//! `arbor new` scaffolds a guest in each language that builds with its
//! README's commands and passes `arbor check` as generated; the Python,
//! JavaScript and Go guests answer JSON messages through their scaffold's
//! module of conveniences (`arbor_guest.py`, `arbor.js`, the Go SDK).

use std::path::{Path, PathBuf};
use std::process::Command;

fn arbor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arbor"))
}

/// A directory under the system's temp dir, removed with everything in it
/// when dropped: a scaffold's build leaves hundreds of MB (a Rust target
/// dir, a Python venv) that must not pile up run after run.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

fn fresh_dir(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("arbor-new-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A scaffolded project; its scratch dir goes when it is dropped.
struct Project {
    path: PathBuf,
    _scratch: Scratch,
}

impl AsRef<Path> for Project {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for Project {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_project(lang: &str, name: &str) -> Project {
    let parent = fresh_dir(lang);
    run(
        arbor()
            .args(["new", "--lang", lang, name, "--dir"])
            .arg(&parent),
        "arbor new",
    );
    Project {
        path: parent.join(name),
        _scratch: parent,
    }
}

fn check(project: &Path) {
    let out = arbor()
        .arg("check")
        .arg(project.join("tree.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "arbor check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok (1 component"), "{stdout}");
}

/// Runs the scaffolded component as two children, `a` and `b`, and asks `a`
/// what its README and doc table promise: JSON replies, a call to `b`
/// through the module's `call` (the SDK's typed `call` in Rust), and the
/// module's typed call errors (a call to itself, to no one) answered as
/// error replies in the contract's words.
fn answers_json_through_its_module(project: &Path, component: &Path) {
    let text = format!(
        "[components]\nguest = {:?}\n\n[supervisor]\nname = \"root\"\n\n\
         [[supervisor.children]]\nname = \"a\"\ncomponent = \"guest\"\n\n\
         [[supervisor.children]]\nname = \"b\"\ncomponent = \"guest\"\n",
        component.display().to_string()
    );
    let tree = arbor::TreeSpec::parse(&project.join("two.toml"), &text).expect("the tree is valid");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = arbor::NodeOptions {
            cache: arbor::compile_cache::CompileCache::user_default(|n| std::env::var_os(n)),
            ..arbor::NodeOptions::default()
        };
        let node = arbor::Node::start(&tree, options)
            .await
            .expect("the tree starts");
        let ask = async |message: &str| {
            node.call("a", message.as_bytes().to_vec())
                .await
                .map(|reply| String::from_utf8(reply).expect("a UTF-8 reply"))
        };
        assert_eq!(ask(r#""ping""#).await.unwrap(), r#""pong""#);
        assert_eq!(ask(r#"{"sum": [1, 2, 3]}"#).await.unwrap(), "6");
        assert_eq!(ask(r#""count""#).await.unwrap(), "3", "a third message");
        assert_eq!(
            ask(r#"{"ask": "b", "message": "ping"}"#).await.unwrap(),
            r#""pong""#
        );
        assert_eq!(
            ask(r#"{"ask": "a", "message": "ping"}"#).await,
            Err(arbor::CallError::Rejected("self-call".into()))
        );
        assert_eq!(
            ask(r#"{"ask": "ghost", "message": "ping"}"#).await,
            Err(arbor::CallError::Rejected("no-such-name: ghost".into()))
        );
        match ask("ping").await {
            Err(arbor::CallError::Rejected(why)) => assert!(why.starts_with("not JSON"), "{why}"),
            other => panic!("a message that is not JSON is an error reply, got {other:?}"),
        }
        assert_eq!(
            ask(r#""ping""#).await.unwrap(),
            r#""pong""#,
            "a kept running"
        );
        // A panic or an uncaught exception is reported by the guest
        // (contract 0.2.3's `host.crash`, through the SDK or the module):
        // the crash says what happened, not "wasm trap: ...".
        match ask(r#""crash""#).await {
            Err(arbor::CallError::Crashed(detail)) => assert!(
                detail.contains("crash requested") && !detail.contains("wasm trap"),
                "{detail}"
            ),
            other => panic!("a crash, got {other:?}"),
        }
        node.shutdown().await;
    });
}

/// The Rust scaffold is written on the SDK, which `arbor new` copies into
/// the project (`arbor-guest/`): it builds outside this repository, passes
/// `arbor check`, answers the same JSON messages as the Python and
/// JavaScript scaffolds (a `TypedActor`, typed calls), and, exported without
/// `with handover`, has no `handover` export.
#[test]
fn arbor_new_rust_builds_on_the_sdk_it_carries_and_answers_json() {
    let project = new_project("rust", "hello_rust");
    assert!(project.join("arbor-guest/src/lib.rs").exists());
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut build, "cargo build of the scaffolded Rust guest");
    check(&project);
    let component = project.join("target/wasm32-wasip2/release/hello_rust.wasm");
    answers_json_through_its_module(&project, &component);
    let loaded = arbor::ArborEngine::new()
        .unwrap()
        .load("hello_rust", &component)
        .unwrap();
    assert!(!loaded.has_handover(), "exported without handover");
}

#[test]
fn arbor_new_python_builds_passes_check_and_answers_json_through_its_module() {
    let project = new_project("python", "hello_py");
    run(
        Command::new("bash").arg(project.join("build.sh")),
        "build.sh of the scaffolded Python guest",
    );
    check(&project);
    answers_json_through_its_module(&project, &project.join("hello_py.wasm"));
}

#[test]
fn arbor_new_js_builds_passes_check_and_answers_json_through_its_module() {
    let project = new_project("js", "hello_js");
    run(
        Command::new("npm").current_dir(&project).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]),
        "npm install in the scaffolded JS guest",
    );
    run(
        Command::new("npm")
            .current_dir(&project)
            .args(["run", "build", "--silent"]),
        "npm run build",
    );
    check(&project);
    answers_json_through_its_module(&project, &project.join("hello_js.wasm"));
}

#[test]
fn arbor_new_c_builds_and_passes_check() {
    let project = new_project("c", "hello_c");
    run(
        Command::new("bash").arg(project.join("build.sh")),
        "build.sh of the scaffolded C guest",
    );
    check(&project);
}

/// The Go scaffold builds with its own `build.sh` (standard Go from PyPI,
/// bindings and the runtime package written by `arbor new`, nothing from
/// the Go module proxy), passes `arbor check`, and answers the same JSON
/// messages through the Go SDK (`HandleJSON`, `CallJSON`, typed call
/// errors).
#[test]
fn arbor_new_go_builds_passes_check_and_answers_json_through_its_sdk() {
    let project = new_project("go", "hello_go");
    assert!(project.join("arbor/arbor.go").exists());
    run(
        Command::new("bash").arg(project.join("build.sh")),
        "build.sh of the scaffolded Go guest",
    );
    check(&project);
    let component = project.join("hello_go.wasm");
    answers_json_through_its_module(&project, &component);
    let loaded = arbor::ArborEngine::new()
        .unwrap()
        .load("hello_go", &component)
        .unwrap();
    assert!(!loaded.has_handover(), "the world supervised");
}

#[test]
fn arbor_new_refuses_bad_names_and_existing_directories() {
    let parent = fresh_dir("refuse");
    let out = arbor()
        .args(["new", "--lang", "rust", "Bad-Name", "--dir"])
        .arg(&parent)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid guest name \"Bad-Name\""));
    run(
        arbor()
            .args(["new", "--lang", "js", "twice", "--dir"])
            .arg(&parent),
        "first arbor new",
    );
    let out = arbor()
        .args(["new", "--lang", "js", "twice", "--dir"])
        .arg(&parent)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("twice: already exists"));
    let out = arbor()
        .args(["new", "--lang", "cobol", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

//! Grants through the `arbor` binary: `check` prints each child's, a
//! granted directory that does not exist is a one-line error naming its
//! line, `ctl start-child` asks for grants within a supervisor's
//! `child_grants`, and a child's stdout reaches the host's log (stderr)
//! tagged with its path, cut to its `log_rate` with the dropped lines
//! counted.

use std::path::Path;
use std::time::Duration;

use crate::commands::{Running, arbor, assert_one_line_error, scratch, stderr, stdout, write};

/// A tree file text with the grants probe as component `g`, and `body`.
fn grants_tree(body: &str) -> String {
    format!(
        "[components]\ng = {:?}\n\n[supervisor]\nname = \"root\"\n{body}",
        arbor_guest_artifacts::GRANTS_PROBE
    )
}

/// `dir/data/in/hello.txt`, for trees that grant `data/in`.
fn with_data(dir: &Path) {
    std::fs::create_dir_all(dir.join("data/in")).unwrap();
    std::fs::write(dir.join("data/in/hello.txt"), "hello").unwrap();
}

const GRANTED: &str = r#"
[[supervisor.children]]
name = "a"
component = "g"
dirs = [{ host = "data/in", guest = "/in" }]
env = { REGION = "eu", TOKEN = "s3cret" }
http_outgoing = ["api.example.com", "127.0.0.1:9000"]

[[supervisor.children]]
name = "b"
component = "g"

[[supervisor.children]]
name = "pool"
dynamic = {}
child_grants = { env = ["REGION"], keyvalue = ["orders"] }
"#;

#[test]
fn check_prints_each_childs_grants_without_environment_values() {
    let dir = scratch("grants-check");
    with_data(&dir);
    let file = write(&dir, "tree.toml", grants_tree(GRANTED));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let data = std::fs::canonicalize(dir.join("data/in")).unwrap();
    assert!(
        text.contains(&format!(
            "  root/a: dirs: {} -> /in (ro); env: REGION, TOKEN; http_outgoing: api.example.com, 127.0.0.1:9000\n",
            data.display()
        )),
        "{text}"
    );
    assert!(text.contains("  root/b: none\n"), "{text}");
    assert!(
        text.contains(
            "  root/pool (children started at run time, at most): env: REGION; keyvalue: orders\n"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "values are not shown: {text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_names_the_line_of_a_granted_directory_that_does_not_exist() {
    let dir = scratch("grants-missing-dir");
    let file = write(&dir, "tree.toml", grants_tree(GRANTED));
    let out = arbor().arg("check").arg(&file).output().unwrap();
    assert_one_line_error(
        &out,
        "tree.toml:10: supervisor.children[0].dirs: the directory data/in does not exist",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ctl_start_child_grants_within_the_supervisors_child_grants_and_refuses_wider() {
    let dir = scratch("grants-ctl");
    with_data(&dir);
    let text = grants_tree(GRANTED);
    let host = Running::start_text_in(&dir, &text);
    let started = host.ctl(&[
        "start-child",
        "pool",
        "g",
        "--name",
        "c1",
        "--env",
        "REGION=eu",
        "--keyvalue",
        "orders",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert_eq!(stdout(&host.ctl(&["call", "c1", "env REGION"])), "eu");
    let wider = host.ctl(&[
        "start-child",
        "pool",
        "g",
        "--name",
        "c2",
        "--env",
        "TOKEN=x",
    ]);
    assert_one_line_error(
        &wider,
        "denied: env TOKEN is not within what \"pool\" may grant its children (child_grants env: REGION)",
    );
    let dirs = host.ctl(&[
        "start-child",
        "pool",
        "g",
        "--name",
        "c3",
        "--dir",
        "data/in:/in",
    ]);
    assert_one_line_error(&dirs, "denied: dirs ");
    assert!(!stdout(&host.ctl(&["tree"])).contains("c2"));
    assert!(host.ctl(&["shutdown"]).status.success());
    host.wait();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_logs_a_childs_stdout_tagged_with_its_path_and_counts_what_its_log_rate_drops() {
    let dir = scratch("grants-stdout");
    let text = grants_tree(
        "\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"g\"\n\
         log_rate = { lines_per_sec = 10, burst = 20 }\n",
    );
    let mut host = Running::start_text_in_with_env(&dir, &text, &[("ARBOR_LOG", "info")]);
    let log = host.read_stderr();
    assert_eq!(
        stdout(&host.ctl(&["call", "a", "print 1 hello"])),
        "printed 1"
    );
    assert_eq!(
        stdout(&host.ctl(&["call", "a", "print 500 spam"])),
        "printed 500"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stdout(&host.ctl(&["call", "a", "print 1 after"])),
        "printed 1"
    );
    host.signal("TERM");
    let (out, _) = host.wait();
    assert!(out.status.success());
    let log = log.join().unwrap();
    let tagged = |line: &&str| line.contains("child=\"root/a\"") || line.contains("child=root/a");
    let hello = log
        .lines()
        .find(|l| l.contains("hello 0"))
        .unwrap_or_else(|| panic!("the line is logged: {log}"));
    assert!(tagged(&hello) && hello.contains("INFO"), "{hello}");
    let passed = log.lines().filter(|l| l.contains("spam ")).count() as u64;
    let dropped: u64 = log
        .lines()
        .filter(tagged)
        .filter_map(|l| {
            l.split_once(
                " lines from this child dropped: over its log_rate of 10 lines/s, burst 20",
            )
        })
        .map(|(head, _)| head.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!((19..=25).contains(&passed), "{passed} passed:\n{log}");
    assert_eq!(
        passed + dropped,
        500,
        "each line is logged or counted:\n{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

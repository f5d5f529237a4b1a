//! Test harness: start a tree from TOML text, watch its events.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use arbor::{Event, EventKind, EventSink, Node, NodeOptions, TreeSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The probe guest component.
pub fn probe() -> &'static str {
    arbor_guest_artifacts::PROBE
}

/// A tree file text with `[components] probe = <the probe>` prepended.
pub fn tree(body: &str) -> String {
    format!("[components]\nprobe = {:?}\n\n{body}", probe())
}

/// Builds the tree file text after `[components]`, so tests state only what
/// differs: `root("max_restarts = 2").worker("a", "").supervisor("sub",
/// "strategy = \"one_for_all\"", |s| s.worker("x", ""))`. Workers run the
/// probe unless [`TreeText::worker_of`] names another component; `settings`
/// are extra TOML lines for that table (`""` for none). The text reads as a
/// hand-written tree: one blank line before each table.
pub struct TreeText {
    text: String,
    table: String,
}

/// The root supervisor, named `root`.
pub fn root(settings: &str) -> TreeText {
    TreeText {
        text: format!("[supervisor]\nname = \"root\"\n{}", lines(settings)),
        table: "supervisor".to_string(),
    }
}

/// `settings` as whole lines: nothing for `""`, else ending in a newline.
fn lines(settings: &str) -> String {
    if settings.is_empty() {
        String::new()
    } else {
        format!("{}\n", settings.trim_end_matches('\n'))
    }
}

impl TreeText {
    /// Appends a worker running the probe.
    pub fn worker(self, name: &str, settings: &str) -> Self {
        self.worker_of(name, "probe", settings)
    }

    /// Appends a worker running `component` (a name under `[components]`,
    /// for trees started with [`Harness::start_with`]).
    pub fn worker_of(mut self, name: &str, component: &str, settings: &str) -> Self {
        self.text.push_str(&format!(
            "\n[[{}.children]]\nname = {name:?}\ncomponent = {component:?}\n{}",
            self.table,
            lines(settings)
        ));
        self
    }

    /// Appends a nested supervisor (`settings` must make it one: a
    /// `strategy` or `dynamic`) and its children (`|s| s` for none).
    pub fn supervisor(
        mut self,
        name: &str,
        settings: &str,
        children: impl FnOnce(TreeText) -> TreeText,
    ) -> Self {
        self.text.push_str(&format!(
            "\n[[{}.children]]\nname = {name:?}\n{}",
            self.table,
            lines(settings)
        ));
        let nested = children(TreeText {
            text: String::new(),
            table: format!("{}.children", self.table),
        });
        self.text.push_str(&nested.text);
        self
    }

    /// Puts a `[node]` table with `settings` before `[supervisor]` (call it
    /// on the root).
    pub fn node(mut self, settings: &str) -> Self {
        assert_eq!(self.table, "supervisor", "[node] belongs to the root");
        self.text = format!("[node]\n{}\n{}", lines(settings), self.text);
        self
    }

    /// The TOML text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

pub fn parse(body: &str) -> TreeSpec {
    TreeSpec::parse(Path::new("test-tree.toml"), &tree(body)).expect("test tree is valid")
}

/// A running node and the events it has emitted.
pub struct Harness {
    pub node: Node,
    events: mpsc::UnboundedReceiver<Event>,
    pub seen: Vec<Event>,
}

/// How long any single wait may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The compile cache the `arbor` command would use, so tests compile each
/// component once per machine rather than once per test.
pub fn user_cache() -> Option<arbor::compile_cache::CompileCache> {
    arbor::compile_cache::CompileCache::user_default(|name| std::env::var_os(name))
}

/// Compiles each component once per test run (into the compile cache), so
/// tests running in parallel do not all compile an 18 MB guest at once.
pub fn warm(path: &str) {
    static WARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warmed = WARMED.lock().unwrap_or_else(|p| p.into_inner());
    if !warmed.iter().any(|p| p == path) {
        load(path);
        warmed.push(path.to_string());
    }
}

/// Loads the component at `path` with the settings a tree with default
/// memory limits runs with, so the compile cache entry is the one used.
pub fn load(path: &str) -> arbor::engine::LoadedComponent {
    let pool = arbor::Allocation::Pooling(arbor::PoolSize {
        instances: 1,
        memory_bytes: arbor::spec::DEFAULT_MAX_MEMORY_BYTES,
    });
    let engine = arbor::ArborEngine::with_options(user_cache(), pool).expect("engine");
    engine
        .load("warm", Path::new(path))
        .expect("the component loads")
}

impl Harness {
    pub async fn start(body: &str) -> Harness {
        Harness::start_tree(parse(body)).await
    }

    /// Starts `body` with `[components]` naming each `(name, path)`.
    pub async fn start_with(components: &[(&str, &str)], body: &str) -> Harness {
        let mut text = String::from("[components]\n");
        for (name, path) in components {
            warm(path);
            text.push_str(&format!("{name} = {path:?}\n"));
        }
        text.push_str(body);
        let tree = TreeSpec::parse(Path::new("test-tree.toml"), &text).expect("test tree is valid");
        Harness::start_tree(tree).await
    }

    pub async fn start_tree(tree: TreeSpec) -> Harness {
        let sink = EventSink::new();
        let events = sink.subscribe();
        let node = Node::start(
            &tree,
            NodeOptions {
                events: sink,
                threads: 2,
                cache: user_cache(),
                ..NodeOptions::default()
            },
        )
        .await
        .expect("the tree starts");
        let mut harness = Harness {
            node,
            events,
            seen: Vec::new(),
        };
        // The start events are not what a test is about: skip past them.
        let root = harness.node.root_name().to_string();
        harness
            .wait_event(EventKind::SupervisorStarted, &root, None)
            .await;
        harness
    }

    /// Waits for the next event matching `pred` (earlier ones are kept in `seen`).
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event) {
                        return event;
                    }
                }
                _ => panic!(
                    "timed out waiting for {what}; events so far:\n{}",
                    self.dump()
                ),
            }
        }
    }

    /// Waits for `event` on `path` (with `reason`, when given).
    pub async fn wait_event(&mut self, kind: EventKind, path: &str, reason: Option<&str>) -> Event {
        let what = format!("{kind:?} {path} {reason:?}");
        self.wait_for(&what, |e| {
            e.event == kind
                && e.path == path
                && reason.is_none_or(|r| e.reason.map(|x| x.as_str()) == Some(r))
        })
        .await
    }

    /// Collects events until `pred` matches one, returning all collected
    /// (the matching one last).
    pub async fn collect_until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let start = self.seen.len();
        self.wait_for(what, pred).await;
        self.seen[start..].to_vec()
    }

    /// Everything that arrives within `quiet`, to show nothing else happens.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Event> {
        let start = self.seen.len();
        while let Ok(Some(event)) = tokio::time::timeout(quiet, self.events.recv()).await {
            self.seen.push(event);
        }
        self.seen[start..].to_vec()
    }

    pub fn dump(&self) -> String {
        self.seen
            .iter()
            .map(|e| format!("  {}\n", compact(e)))
            .collect()
    }

    pub async fn call(&self, name: &str, message: &str) -> Result<String, arbor::CallError> {
        self.node
            .call(name, message.as_bytes().to_vec())
            .await
            .map(|r| String::from_utf8(r).expect("utf-8 reply"))
    }
}

/// `kind path reason` in one short string, for sequence assertions.
pub fn compact(e: &Event) -> String {
    let kind = serde_json::to_value(e.event).unwrap();
    let mut s = format!("{} {}", kind.as_str().unwrap(), e.path);
    if let Some(r) = e.reason {
        s.push(' ');
        s.push_str(r.as_str());
    }
    if let Some(g) = e.generation {
        s.push_str(&format!(" g{g}"));
    }
    s
}

pub fn compacts(events: &[Event]) -> Vec<String> {
    events.iter().map(compact).collect()
}

/// A loopback address with a port nobody listens on (the system's pick,
/// let go at once).
pub fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Sends `method path` (HTTP/1.0, so the body ends with the connection) and
/// returns the status and body.
pub async fn request(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await?;
        std::io::Result::Ok(bytes)
    };
    let bytes = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("an answer in time")
        .expect("the exchange succeeds");
    let text = String::from_utf8(bytes).expect("a text response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).expect("a status").parse().unwrap();
    (status, body.to_string())
}

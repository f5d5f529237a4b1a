//! The grants probe: each message tries one thing that a child reaches
//! only when its tree-file entry grants it, and answers what happened, so
//! the host's tests can show that a grant opens exactly what it names and
//! that nothing is open by default. Files, the environment and stdout go
//! through Rust's `std` (as an ordinary guest's would); outgoing HTTP and
//! sockets through the `wasi` crate's bindings, so the error a guest gets
//! is the WASI error itself.
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `read PATH` | replies the file's contents, or `err` with the I/O error |
//! | `write PATH TEXT` | writes TEXT to the file (created or truncated), replies `wrote N` |
//! | `list DIR` | replies the directory's entries, sorted, one per line |
//! | `env NAME` | replies the variable's value, or `err("unset")` |
//! | `env-all` | replies every variable the guest sees, `NAME=VALUE` per line (empty when none) |
//! | `http-get URL` | `wasi:http/outgoing-handler` GET of `http://AUTHORITY/PATH` (or `https://`); replies `STATUS BODY`, or `err` with the `error-code` |
//! | `connect IP:PORT` | opens a TCP connection through `wasi:sockets` (IPv4); replies `connected`, or `err` with the `error-code` |
//! | `print N TEXT` | writes N lines `TEXT I` (I from 0) to stdout, replies `printed N` |
//! | `eprint N TEXT` | the same to stderr |
//! | `print-part TEXT` | writes TEXT to stdout without a newline, replies `printed` |
//! | `log N TEXT` | logs N info lines `TEXT I` through `host.log`, replies `logged N` |
//! | `spawn SUP NAME COMPONENT [GRANT..]` | `children.start-child-with-grants` (contract 0.2.2) of a temporary child under SUP with each GRANT: `dir=HOST:GUEST` (read-only), `dir-rw=HOST:GUEST`, `env=NAME=VALUE`, `http=AUTHORITY`, `kv=BUCKET`, `connect=IP:PORT`; replies `started NAME`, or `err("CASE: TEXT")` with the `child-error` |

use std::io::Write;

use arbor_guest::{Actor, ChildSpec, Grants, Init, Restart};

struct GrantsProbe;

impl Actor for GrantsProbe {
    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        Ok(Init::Running(GrantsProbe))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(message).map_err(|_| "the message is not UTF-8")?;
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match verb {
            "ping" => "pong".to_string(),
            "read" => std::fs::read_to_string(rest).map_err(|e| e.to_string())?,
            "write" => {
                let (path, content) = rest.split_once(' ').unwrap_or((rest, ""));
                std::fs::write(path, content).map_err(|e| e.to_string())?;
                format!("wrote {}", content.len())
            }
            "list" => {
                let mut names = std::fs::read_dir(rest)
                    .map_err(|e| e.to_string())?
                    .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                names.sort();
                names.join("\n")
            }
            "env" => std::env::var(rest).map_err(|_| "unset".to_string())?,
            "env-all" => std::env::vars()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            "http-get" => http_get(rest)?,
            "connect" => connect(rest)?,
            "print" | "eprint" => {
                let (n, line) = count_and_text(rest)?;
                for i in 0..n {
                    if verb == "print" {
                        println!("{line} {i}");
                    } else {
                        eprintln!("{line} {i}");
                    }
                }
                format!("printed {n}")
            }
            "print-part" => {
                print!("{rest}");
                std::io::stdout().flush().map_err(|e| e.to_string())?;
                "printed".to_string()
            }
            "spawn" => spawn(rest)?,
            "log" => {
                let (n, line) = count_and_text(rest)?;
                for i in 0..n {
                    arbor_guest::info!("{line} {i}");
                }
                format!("logged {n}")
            }
            _ => return Err(format!("unknown message: {text}")),
        };
        Ok(reply.into_bytes())
    }
}

arbor_guest::export!(GrantsProbe);

/// `SUP NAME COMPONENT [GRANT..]`: a temporary child with those grants.
fn spawn(rest: &str) -> Result<String, String> {
    let mut words = rest.split(' ');
    let (Some(supervisor), Some(name), Some(component)) =
        (words.next(), words.next(), words.next())
    else {
        return Err("expected SUP NAME COMPONENT [GRANT..]".to_string());
    };
    let mut grants = Grants::default();
    for grant in words {
        let (kind, value) = grant
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=VALUE, got {grant:?}"))?;
        grants = match kind {
            "dir" | "dir-rw" => {
                let (host, guest) = value
                    .split_once(':')
                    .ok_or_else(|| format!("expected HOST:GUEST, got {value:?}"))?;
                grants.dir(host, guest, kind == "dir-rw")
            }
            "env" => {
                let (key, v) = value.split_once('=').unwrap_or((value, ""));
                grants.env(key, v)
            }
            "http" => grants.http_outgoing(value),
            "kv" => grants.keyvalue(value),
            "connect" => grants.connect(value),
            other => return Err(format!("unknown grant {other:?}")),
        };
    }
    let spec = ChildSpec::new(name, component)
        .restart(Restart::Temporary)
        .grants(grants);
    arbor_guest::start_child(supervisor, &spec)
        .map(|started| format!("started {started}"))
        .map_err(|e| e.to_string())
}

/// `N TEXT` as a count and the text.
fn count_and_text(rest: &str) -> Result<(u64, &str), String> {
    let (n, line) = rest.split_once(' ').unwrap_or((rest, ""));
    let n = n.parse().map_err(|_| format!("not a count: {n:?}"))?;
    Ok((n, line))
}

/// A GET of `url` (`http://AUTHORITY/PATH` or `https://...`) through `wasi:http`.
fn http_get(url: &str) -> Result<String, String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingRequest, Scheme};

    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("expected http://AUTHORITY/PATH, got {url:?}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("bad authority {authority:?}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("bad path {path:?}"))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response after the pollable was ready")?
        .map_err(|()| "the response was taken already")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the body: {e:?}")),
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

/// A TCP connection to `address` (`A.B.C.D:PORT`) through `wasi:sockets`.
fn connect(address: &str) -> Result<String, String> {
    use wasi::sockets::instance_network::instance_network;
    use wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    use wasi::sockets::tcp_create_socket::create_tcp_socket;

    let address: std::net::SocketAddrV4 = address
        .parse()
        .map_err(|_| format!("expected A.B.C.D:PORT, got {address:?}"))?;
    let [a, b, c, d] = address.ip().octets();
    let network = instance_network();
    let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(|e| format!("{e:?}"))?;
    socket
        .start_connect(
            &network,
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: address.port(),
                address: (a, b, c, d),
            }),
        )
        .map_err(|e| format!("{e:?}"))?;
    loop {
        socket.subscribe().block();
        match socket.finish_connect() {
            Ok(_streams) => return Ok("connected".to_string()),
            Err(wasi::sockets::network::ErrorCode::WouldBlock) => continue,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

//! Typed messages and calls, JSON on the wire (cargo feature `serde`, on by
//! default): [`TypedActor`], a guest whose messages and replies are serde
//! types; [`call`] and [`cast`] with typed requests and replies; and
//! [`args`] for typed `init` args. A typed guest still talks to untyped
//! ones: a message is only bytes, here the JSON text of a value.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Actor, CallError, ExitReason, Init};

/// A guest whose messages are `Msg` and replies `Reply`, as JSON. Every
/// `TypedActor` is an [`Actor`] (export it with
/// [`export!`](crate::export)): a message that is not a `Msg` is answered
/// `Err("not JSON: ...")` (bytes that are not JSON) or
/// `Err("unexpected message: ...")` (JSON of another shape) without
/// reaching [`handle`](TypedActor::handle), and the child keeps running.
///
/// ```no_run
/// use arbor_guest::{Init, typed::TypedActor};
///
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "snake_case")]
/// enum Msg { Add(u64), Total }
///
/// #[derive(Default)]
/// struct Sum(u64);
///
/// impl TypedActor for Sum {
///     type Msg = Msg;
///     type Reply = u64;
///     fn init(_args: &[u8]) -> Result<Init<Self>, String> {
///         Ok(Init::Running(Sum::default()))
///     }
///     fn handle(&mut self, msg: Msg) -> Result<u64, String> {
///         if let Msg::Add(n) = msg { self.0 += n }
///         Ok(self.0)
///     }
/// }
/// arbor_guest::export!(Sum);
/// ```
pub trait TypedActor: Sized + 'static {
    /// The messages it handles, read from JSON.
    type Msg: DeserializeOwned;
    /// What `handle` replies, written as JSON.
    type Reply: Serialize;

    /// As [`Actor::init`]; [`args`] reads typed args.
    fn init(args: &[u8]) -> Result<Init<Self>, String>;

    /// As [`Actor::handle`], with a typed message and reply.
    fn handle(&mut self, msg: Self::Msg) -> Result<Self::Reply, String>;

    /// As [`Actor::terminate`]. Does nothing unless implemented.
    fn terminate(&mut self, reason: ExitReason) {
        let _ = reason;
    }
}

impl<T: TypedActor> Actor for T {
    fn init(args: &[u8]) -> Result<Init<Self>, String> {
        <T as TypedActor>::init(args)
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let msg = serde_json::from_slice(message).map_err(|e| {
            // The Python and JavaScript scaffolds' words for bytes that
            // are not JSON at all; JSON of another shape is named apart.
            if e.is_data() {
                format!("unexpected message: {e}")
            } else {
                format!("not JSON: {e}")
            }
        })?;
        let reply = TypedActor::handle(self, msg)?;
        serde_json::to_vec(&reply).map_err(|e| format!("cannot write the reply: {e}"))
    }

    fn terminate(&mut self, reason: ExitReason) {
        TypedActor::terminate(self, reason);
    }
}

/// Reads `init`'s args as JSON; no args at all (the tree file names none)
/// is `A::default()`.
pub fn args<A: DeserializeOwned + Default>(args: &[u8]) -> Result<A, String> {
    if args.is_empty() {
        return Ok(A::default());
    }
    serde_json::from_slice(args).map_err(|e| format!("cannot read the args: {e}"))
}

/// Why a typed [`call`] or [`cast`] failed: the call itself, or the JSON on
/// either side of it.
#[derive(Debug)]
pub enum TypedCallError {
    /// The call or cast failed (the target's `Err` is [`CallError::Rejected`]).
    Call(CallError),
    /// The request could not be written as JSON.
    Encode(serde_json::Error),
    /// The reply is not the JSON of the expected type (the reply's bytes
    /// are kept, for a message).
    Decode {
        /// Why it did not read.
        error: serde_json::Error,
        /// The reply as it came.
        reply: Vec<u8>,
    },
}

impl fmt::Display for TypedCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedCallError::Call(error) => error.fmt(f),
            TypedCallError::Encode(error) => write!(f, "cannot write the request: {error}"),
            TypedCallError::Decode { error, .. } => write!(f, "cannot read the reply: {error}"),
        }
    }
}

impl std::error::Error for TypedCallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TypedCallError::Call(error) => Some(error),
            TypedCallError::Encode(error) | TypedCallError::Decode { error, .. } => Some(error),
        }
    }
}

impl From<CallError> for TypedCallError {
    fn from(error: CallError) -> Self {
        TypedCallError::Call(error)
    }
}

/// Calls `target` with the JSON of `request` and reads its reply as a
/// `Resp`: `call::<Req, Resp>(name, &req)`. A reply that is not a `Resp` is
/// [`TypedCallError::Decode`], not a panic.
pub fn call<Req, Resp>(target: &str, request: &Req) -> Result<Resp, TypedCallError>
where
    Req: Serialize + ?Sized,
    Resp: DeserializeOwned,
{
    let message = serde_json::to_vec(request).map_err(TypedCallError::Encode)?;
    let reply = crate::call(target, &message)?;
    serde_json::from_slice(&reply).map_err(|error| TypedCallError::Decode { error, reply })
}

/// Casts the JSON of `message` to `target`.
pub fn cast<Msg: Serialize + ?Sized>(target: &str, message: &Msg) -> Result<(), TypedCallError> {
    let message = serde_json::to_vec(message).map_err(TypedCallError::Encode)?;
    Ok(crate::cast(target, &message)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Msg {
        Add(u64),
    }

    struct Sum(u64);

    impl TypedActor for Sum {
        type Msg = Msg;
        type Reply = u64;
        fn init(_args: &[u8]) -> Result<Init<Self>, String> {
            Ok(Init::Running(Sum(0)))
        }
        fn handle(&mut self, Msg::Add(n): Msg) -> Result<u64, String> {
            self.0 += n;
            Ok(self.0)
        }
    }

    #[test]
    fn a_typed_actor_reads_its_message_and_writes_its_reply_as_json() {
        let mut sum = Sum(1);
        assert_eq!(Actor::handle(&mut sum, br#"{"add": 2}"#).unwrap(), b"3");
    }

    #[test]
    fn a_message_that_does_not_read_is_an_err_reply_not_a_panic() {
        let mut sum = Sum(1);
        let err = Actor::handle(&mut sum, b"ping").unwrap_err();
        assert!(err.starts_with("not JSON: "), "{err}");
        let err = Actor::handle(&mut sum, br#"{"sub": 2}"#).unwrap_err();
        assert!(err.starts_with("unexpected message: "), "{err}");
        assert_eq!(sum.0, 1, "handle did not run");
    }

    #[test]
    fn no_args_read_as_the_default_and_bad_args_as_an_err() {
        #[derive(Default, serde::Deserialize, PartialEq, Debug)]
        struct Args {
            region: String,
        }
        assert_eq!(args::<Args>(b"").unwrap(), Args::default());
        assert_eq!(
            args::<Args>(br#"{"region": "eu"}"#).unwrap().region,
            "eu".to_string()
        );
        assert!(
            args::<Args>(b"{")
                .unwrap_err()
                .starts_with("cannot read the args")
        );
    }
}

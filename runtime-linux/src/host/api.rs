//! The single-host API's wire protocol: one [`Request`] from the client, then a stream of
//! [`Reply`] messages (text for standard output or standard error, and finally an exit code),
//! each one JSON document on its own line over the Unix socket.
//!
//! The server formats everything (tables, `describe`, messages) so the client stays a thin
//! printer, as kubectl is for most verbs once the server has done the work.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// The longest message either side accepts (a large manifest file fits comfortably).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// A manifest file sent with `apply -f` or `delete -f`: its name (for error messages that name
/// the file and line) and its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestText {
    /// The file's name as the user gave it (`-` for standard input).
    pub file: String,
    /// The file's contents.
    pub text: String,
}

/// What a client asks the host to do: kubectl's verbs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "request",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Request {
    /// `apply -f FILE…`: create or update every object in the files.
    Apply {
        /// The files.
        manifests: Vec<ManifestText>,
        /// `-n`: the namespace of objects that name none.
        namespace: Option<String>,
    },
    /// `get RESOURCE [NAME…]`.
    Get {
        /// The resource (`pods`, `po`, `deployments.apps`, …).
        resource: String,
        /// Names; empty means every object.
        names: Vec<String>,
        /// `-n`; `None` means `default`.
        namespace: Option<String>,
        /// `-A`.
        all_namespaces: bool,
        /// `-l`.
        selector: Option<String>,
        /// `-o`: empty, `wide`, `yaml`, `json` or `name`.
        output: String,
    },
    /// `describe RESOURCE [NAME…]`.
    Describe {
        /// The resource.
        resource: String,
        /// Names; empty means every object in the namespace.
        names: Vec<String>,
        /// `-n`.
        namespace: Option<String>,
    },
    /// `delete RESOURCE NAME…` or `delete -f FILE…`.
    Delete {
        /// The resource (with `names`).
        resource: Option<String>,
        /// Names.
        names: Vec<String>,
        /// Or the objects of these files.
        manifests: Vec<ManifestText>,
        /// `-n`.
        namespace: Option<String>,
        /// `--grace-period`.
        grace_period: Option<i64>,
    },
    /// `logs POD [-c CONTAINER]`.
    Logs {
        /// The pod.
        pod: String,
        /// `-c`; the only container when the pod has one.
        container: Option<String>,
        /// `-n`.
        namespace: Option<String>,
        /// `-p`: the previous run's log.
        previous: bool,
        /// `-f`: keep streaming while the container runs.
        follow: bool,
    },
    /// `exec POD [-c CONTAINER] -- COMMAND…`.
    Exec {
        /// The pod.
        pod: String,
        /// `-c`.
        container: Option<String>,
        /// `-n`.
        namespace: Option<String>,
        /// The command and its arguments.
        command: Vec<String>,
    },
    /// `scale RESOURCE NAME --replicas=N`.
    Scale {
        /// `deployment`, `replicaset` or `statefulset`.
        resource: String,
        /// The object's name.
        name: String,
        /// `-n`.
        namespace: Option<String>,
        /// The new replica count.
        replicas: i32,
    },
    /// `rollout status deployment/NAME`.
    RolloutStatus {
        /// The Deployment's name.
        name: String,
        /// `-n`.
        namespace: Option<String>,
        /// `--timeout` in seconds; `None` waits forever.
        timeout_secs: Option<u64>,
    },
    /// `rollout undo deployment/NAME [--to-revision=N]`.
    RolloutUndo {
        /// The Deployment's name.
        name: String,
        /// `-n`.
        namespace: Option<String>,
        /// The revision to go back to; `None` means the previous one.
        to_revision: Option<i64>,
    },
    /// `rollout history deployment/NAME`.
    RolloutHistory {
        /// The Deployment's name.
        name: String,
        /// `-n`.
        namespace: Option<String>,
    },
    /// `auth can-i VERB RESOURCE [NAME]`: whether the caller (or, with `--as`, another user)
    /// may do it.
    AuthCanI {
        /// The verb (`create`, `get`, `*`, …).
        verb: String,
        /// The resource, optionally with a subresource (`pods/log`), or `*`.
        resource: String,
        /// The object's name; empty for any.
        name: String,
        /// `-n`.
        namespace: Option<String>,
        /// `-A`.
        all_namespaces: bool,
        /// `--as`: ask for this user instead (needs `impersonate`).
        as_user: Option<String>,
        /// `--as-group`: with `--as`, these groups.
        as_groups: Vec<String>,
    },
}

/// One message from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Reply {
    /// Text for the client's standard output.
    Stdout {
        /// The text.
        text: String,
    },
    /// Text for the client's standard error.
    Stderr {
        /// The text.
        text: String,
    },
    /// The end of the answer, with the client's exit code.
    Exit {
        /// 0 for success.
        code: i32,
    },
}

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The other side sent something that is not a message.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// The connection closed before a message.
    #[error("connection closed")]
    Closed,
}

/// Writes one message as a line of JSON and flushes.
pub fn write_message<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()?;
    Ok(())
}

/// Reads one message (a line of JSON) of at most [`MAX_MESSAGE_BYTES`].
pub fn read_message<T: for<'de> Deserialize<'de>>(
    input: &mut impl BufRead,
) -> Result<T, WireError> {
    let mut line = Vec::new();
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() {
                return Err(WireError::Closed);
            }
            break;
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..i]);
            input.consume(i + 1);
            break;
        }
        let n = buf.len();
        line.extend_from_slice(buf);
        input.consume(n);
        if line.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::TooLarge);
        }
    }
    if line.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge);
    }
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_one_per_line() {
        let requests = vec![
            Request::Get {
                resource: "pods".into(),
                names: vec![],
                namespace: Some("team-a".into()),
                all_namespaces: false,
                selector: Some("app=web".into()),
                output: "wide".into(),
            },
            Request::Apply {
                manifests: vec![ManifestText {
                    file: "web.yaml".into(),
                    text: "kind: Pod\n".into(),
                }],
                namespace: None,
            },
        ];
        let mut wire = Vec::new();
        for r in &requests {
            write_message(&mut wire, r).unwrap();
        }
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 2);
        let mut input = std::io::BufReader::new(&wire[..]);
        for r in &requests {
            let got: Request = read_message(&mut input).unwrap();
            assert_eq!(&got, r);
        }
        assert!(matches!(
            read_message::<Request>(&mut input),
            Err(WireError::Closed)
        ));
        let text = String::from_utf8(wire).unwrap();
        assert!(
            text.starts_with(r#"{"request":"get","resource":"pods""#),
            "{text}"
        );
        assert!(text.contains(r#""allNamespaces":false"#), "{text}");
    }

    #[test]
    fn garbage_is_malformed() {
        let mut input = std::io::BufReader::new(&b"{not json}\n"[..]);
        assert!(matches!(
            read_message::<Reply>(&mut input),
            Err(WireError::Malformed(_))
        ));
    }
}

//! The client side of the single-host API: send one [`Request`], print the answer as it
//! streams in, return the exit code. The `flotilla` program's `get`, `apply`, `logs`, …
//! commands are this function and argument parsing.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::api::{read_message, write_message, Reply, Request, WireError};

/// Why the host could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("cannot reach the flotilla host at {path}: {source} (is `flotilla host` running?)")]
    Connect {
        /// The socket's path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The conversation failed.
    #[error("{0}")]
    Wire(#[from] WireError),
}

/// Sends `request` to the host at `socket` and copies the answer to `stdout` and `stderr`;
/// returns the exit code the host chose.
pub fn call(
    socket: &Path,
    request: &Request,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<i32, ClientError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        path: socket.display().to_string(),
        source,
    })?;
    write_message(&mut stream, request)?;
    let mut reader = BufReader::new(stream);
    loop {
        match read_message::<Reply>(&mut reader) {
            Ok(Reply::Stdout { text }) => {
                stdout.write_all(text.as_bytes()).map_err(WireError::Io)?;
                stdout.flush().map_err(WireError::Io)?;
            }
            Ok(Reply::Stderr { text }) => {
                stderr.write_all(text.as_bytes()).map_err(WireError::Io)?;
                stderr.flush().map_err(WireError::Io)?;
            }
            Ok(Reply::Exit { code }) => return Ok(code),
            Err(WireError::Closed) => {
                return Err(WireError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the host closed the connection without an answer",
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
}

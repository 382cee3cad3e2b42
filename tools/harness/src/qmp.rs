//! QEMU's machine protocol (QMP), for tests that act on a running machine
//! as the platform would: inject an NMI, a machine check.
//!
//! QMP is line-delimited JSON over a socket (QEMU's `docs/interop/qmp-spec`):
//! the server greets, the client sends `qmp_capabilities`, then commands;
//! each command gets one `return` or `error` line, and asynchronous `event`
//! lines may come in between.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// An action on a running machine, sent through QMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `inject-nmi`: a non-maskable interrupt to every CPU.
    InjectNmi,
    /// A human-monitor command line (e.g. `mce 0 1 0xb200000000000000 5 0 0`).
    Monitor(String),
}

impl Action {
    fn to_json(&self) -> String {
        match self {
            Action::InjectNmi => r#"{"execute":"inject-nmi"}"#.to_string(),
            Action::Monitor(line) => format!(
                r#"{{"execute":"human-monitor-command","arguments":{{"command-line":"{}"}}}}"#,
                line.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        }
    }
}

/// A QMP session with one QEMU.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to the QMP socket at `path` and leaves negotiation mode.
    pub fn connect(path: &Path) -> std::io::Result<Qmp> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp { reader: BufReader::new(stream), writer };
        qmp.read_line()?; // the greeting
        qmp.send(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(qmp)
    }

    /// Performs `action`; an `error` answer is an `Err` with QEMU's text.
    pub fn perform(&mut self, action: &Action) -> std::io::Result<()> {
        self.send(&action.to_json())
    }

    fn send(&mut self, json: &str) -> std::io::Result<()> {
        self.writer.write_all(json.as_bytes())?;
        self.writer.write_all(b"\n")?;
        loop {
            let line = self.read_line()?;
            if line.contains("\"return\"") {
                return Ok(());
            }
            if line.contains("\"error\"") {
                return Err(std::io::Error::other(format!("QMP: {}", line.trim())));
            }
            // An asynchronous event: keep reading for the answer.
        }
    }

    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "QMP closed"));
        }
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_are_quoted_as_json_strings() {
        assert_eq!(Action::InjectNmi.to_json(), r#"{"execute":"inject-nmi"}"#);
        assert_eq!(
            Action::Monitor(r#"say "hi" \ now"#.into()).to_json(),
            r#"{"execute":"human-monitor-command","arguments":{"command-line":"say \"hi\" \\ now"}}"#
        );
    }
}

//! Talking to a running machine as a person at its console would: type
//! a line on the serial input, read what comes back (the interactive
//! shell's test).
//!
//! [`Machine::session`] starts QEMU with the serial console on pipes
//! (`-serial stdio`, stdin piped instead of empty). [`Session::command`]
//! waits for the prompt, types one line and returns what the machine
//! printed up to the next prompt. Typing waits for the prompt first, so
//! a loaded host (or a slow emulated disk) only makes a test slower,
//! never makes it type into the previous command; the deadlines are
//! generous for the same reason.

use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Exit, Machine, spawn_reader};

/// A machine being talked to. QEMU is killed when it is dropped.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<Mutex<Vec<u8>>>,
    /// Console bytes already returned by a wait.
    seen: usize,
    started: Instant,
}

impl Machine {
    /// Boots with the serial console on pipes, for [`Session`]s.
    pub fn session(&self) -> std::io::Result<Session> {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let console = Arc::new(Mutex::new(Vec::new()));
        // The readers end with QEMU (their pipes close); nobody joins them.
        spawn_reader(child.stdout.take(), console.clone());
        spawn_reader(child.stderr.take(), console.clone());
        let stdin = child.stdin.take();
        Ok(Session { child, stdin, console, seen: 0, started: Instant::now() })
    }
}

impl Session {
    /// Everything the machine printed so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` appears after what earlier waits returned;
    /// returns the text up to and including it and moves past it. The
    /// error holds the console's tail, for the test's message.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let bytes = self.console.lock().unwrap();
                let from = self.seen.min(bytes.len());
                if let Some(at) = find(&bytes[from..], needle.as_bytes()) {
                    let end = from + at + needle.len();
                    let text = String::from_utf8_lossy(&bytes[from..end]).into_owned();
                    self.seen = end;
                    return Ok(text);
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!(
                    "QEMU ended ({}) before {needle:?} appeared",
                    Exit::from_status(status.code()).describe()
                )));
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("no {needle:?} within {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text` on the serial input as it is (no end of line added).
    pub fn type_bytes(&mut self, text: &[u8]) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the input is closed")?;
        stdin.write_all(text).and_then(|()| stdin.flush()).map_err(|e| format!("type: {e}"))
    }

    /// Waits for `prompt`, types `line` and Enter (a CR, as a terminal
    /// sends it), and returns what the machine printed until the next
    /// `prompt`: the echo of the line, then the command's output.
    pub fn command(
        &mut self,
        prompt: &str,
        line: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        self.wait_for(prompt, timeout)?;
        self.type_bytes(line.as_bytes())?;
        self.type_bytes(b"\r")?;
        self.wait_until_next(prompt, timeout)
    }

    /// Returns what the machine prints until `prompt` appears again, and
    /// leaves the prompt unread (so the next `command` finds it).
    pub fn wait_until_next(&mut self, prompt: &str, timeout: Duration) -> Result<String, String> {
        let text = self.wait_for(prompt, timeout)?;
        self.seen -= prompt.len();
        Ok(text[..text.len() - prompt.len()].to_string())
    }

    /// Waits for QEMU to end (the guest powered off); kills it at the
    /// deadline.
    pub fn finish(mut self, timeout: Duration) -> Exit {
        self.stdin.take();
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Exit::from_status(status.code()),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Exit::Timeout;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => return Exit::Killed,
            }
        }
    }

    /// `what`, with the time since boot and the console's last lines.
    fn failure(&self, what: &str) -> String {
        let console = self.console();
        let lines: Vec<&str> = console.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "{what} ({:.1} s after boot)\n--- console tail ---\n{tail}",
            self.started.elapsed().as_secs_f64()
        )
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

//! Line editing for a console: what a shell needs to read a command
//! typed by a person (or a script) one byte at a time.
//!
//! [`LineEditor::feed`] takes each byte read from the console and says
//! what to echo and when a line is complete. It knows the basics of a
//! terminal in raw mode: printable ASCII is kept and echoed; Backspace
//! (`0x08`) and Delete (`0x7f`) erase the last character (echoed as
//! "back, space, back"); Ctrl-U erases the whole line; Ctrl-C abandons
//! it; Enter ends it, whether the terminal sends CR, LF or CR LF (one
//! line, not two); escape sequences (arrow keys: `ESC [ A`) and other
//! control bytes are ignored. A line is at most [`MAX_LINE`] bytes: more
//! is refused with a bell, not silently cut.
//!
//! Pure logic, tested on the host; the shell (`examples/shell`) feeds it
//! from `Handle<Console>::read`.

use alloc::string::String;
use alloc::vec::Vec;

/// The longest line kept, in bytes.
pub const MAX_LINE: usize = 200;

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESC: u8 = 0x1b;
const BELL: u8 = 0x07;
/// What erases one character on a terminal.
const ERASE: &[u8] = b"\x08 \x08";

/// What one byte did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing to report beyond the echo.
    Nothing,
    /// A line was entered (without its end of line).
    Line(String),
    /// The line was abandoned (Ctrl-C).
    Cancelled,
}

/// Where an escape sequence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// Not in one.
    None,
    /// After `ESC`.
    Start,
    /// After `ESC [`: parameters until a final byte (`0x40..=0x7e`).
    Csi,
}

/// A line being typed.
#[derive(Debug)]
pub struct LineEditor {
    line: Vec<u8>,
    escape: Escape,
    /// The last byte was a CR: an LF right after it ends nothing.
    after_cr: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty line.
    pub const fn new() -> Self {
        LineEditor { line: Vec::new(), escape: Escape::None, after_cr: false }
    }

    /// What has been typed of the current line.
    pub fn current(&self) -> &[u8] {
        &self.line
    }

    /// Takes one typed byte; appends what to echo to `echo` and says
    /// whether a line is complete.
    pub fn feed(&mut self, b: u8, echo: &mut Vec<u8>) -> Event {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if b == b'[' { Escape::Csi } else { Escape::None };
                return Event::Nothing;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                return Event::Nothing;
            }
            Escape::None => {}
        }
        match b {
            b'\n' if after_cr => Event::Nothing,
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                echo.push(b'\n');
                let line = core::mem::take(&mut self.line);
                // Only printable ASCII is ever kept.
                Event::Line(line.into_iter().map(char::from).collect())
            }
            BACKSPACE | DELETE => {
                if self.line.pop().is_some() {
                    echo.extend_from_slice(ERASE);
                }
                Event::Nothing
            }
            CTRL_U => {
                for _ in 0..self.line.len() {
                    echo.extend_from_slice(ERASE);
                }
                self.line.clear();
                Event::Nothing
            }
            CTRL_C => {
                self.line.clear();
                echo.extend_from_slice(b"^C\n");
                Event::Cancelled
            }
            ESC => {
                self.escape = Escape::Start;
                Event::Nothing
            }
            b'\t' | 0x20..=0x7e => {
                if self.line.len() == MAX_LINE {
                    echo.push(BELL);
                } else {
                    // A tab is a separator like a space.
                    let b = if b == b'\t' { b' ' } else { b };
                    self.line.push(b);
                    echo.push(b);
                }
                Event::Nothing
            }
            _ => Event::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;

    /// Feeds `input`; the lines entered and everything echoed.
    fn run(input: &[u8]) -> (Vec<Event>, Vec<u8>) {
        let mut ed = LineEditor::new();
        let mut echo = Vec::new();
        let events =
            input.iter().map(|&b| ed.feed(b, &mut echo)).filter(|e| *e != Event::Nothing).collect();
        (events, echo)
    }

    fn line(s: &str) -> Event {
        Event::Line(s.into())
    }

    #[test]
    fn a_line_is_echoed_and_ends_at_cr_lf_or_crlf() {
        let (events, echo) = run(b"ls\rcat a\ncaps\r\nhelp\r\r");
        assert_eq!(events, [line("ls"), line("cat a"), line("caps"), line("help"), line("")]);
        assert_eq!(echo, b"ls\ncat a\ncaps\nhelp\n\n");
    }

    #[test]
    fn backspace_and_delete_erase_one_character_and_no_more() {
        let (events, echo) = run(b"lx\x08s\x7f\x7f\x7f\x08ps\n");
        assert_eq!(events, [line("ps")]);
        assert_eq!(echo, b"lx\x08 \x08s\x08 \x08\x08 \x08ps\n");
    }

    #[test]
    fn ctrl_u_erases_the_line_and_ctrl_c_abandons_it() {
        let (events, echo) = run(b"rm /x\x15ls\x03caps\n");
        assert_eq!(events, [Event::Cancelled, line("caps")]);
        let erase5: Vec<u8> = ERASE.repeat(5);
        let mut want = b"rm /x".to_vec();
        want.extend_from_slice(&erase5);
        want.extend_from_slice(b"ls^C\ncaps\n");
        assert_eq!(echo, want);
    }

    #[test]
    fn escape_sequences_and_control_bytes_are_ignored() {
        let (events, echo) = run(b"p\x1b[A\x1b[1;5Cs\x01\x00\x1bx\n");
        assert_eq!(events, [line("ps")]);
        assert_eq!(echo, b"ps\n");
    }

    #[test]
    fn tabs_are_spaces_and_long_lines_ring_the_bell() {
        let (events, _) = run(b"cat\ta\n");
        assert_eq!(events, [line("cat a")]);
        let mut input = [b'x'; MAX_LINE + 3].to_vec();
        input.push(b'\n');
        let (events, echo) = run(&input);
        assert_eq!(events, [line(&"x".repeat(MAX_LINE))]);
        assert_eq!(echo.iter().filter(|&&b| b == BELL).count(), 3);
    }

    #[test]
    fn non_ascii_bytes_never_reach_a_line() {
        let (events, _) = run(b"a\xc3\xa9b\xff\n");
        assert_eq!(events, [line("ab")]);
    }
}

//! Open-file handles: a small table inside [`Fs`](super::Fs) of slots with
//! generations, so a closed handle can never reach a reused slot.

use alloc::vec::Vec;

use super::FsError;

/// An open file, returned by [`Fs::open`](super::Fs::open). Pass it to the
/// `Fs` methods that read and write; give it back with
/// [`Fs::close`](super::Fs::close). Dropping it without closing only leaks
/// a small table slot until the file system is unmounted.
#[derive(Debug, PartialEq, Eq)]
pub struct File {
    slot: u32,
    generation: u32,
}

/// What a handle refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFile {
    /// Inode number (0 once the file was removed).
    pub ino: u32,
    /// Current position.
    pub pos: u64,
    /// Opened for reading.
    pub read: bool,
    /// Opened for writing.
    pub write: bool,
    /// Every write goes to the end.
    pub append: bool,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    file: Option<OpenFile>,
}

/// The handle table.
#[derive(Debug, Default)]
pub struct Handles {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Handles {
    /// Registers an open file.
    pub fn insert(&mut self, file: OpenFile) -> File {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.file = Some(file);
        File { slot, generation: s.generation }
    }

    /// The open file behind `f`: [`FsError::BadHandle`] if closed,
    /// [`FsError::NotFound`] if its file was removed.
    pub fn get(&mut self, f: &File) -> Result<&mut OpenFile, FsError> {
        let s = self
            .slots
            .get_mut(f.slot as usize)
            .filter(|s| s.generation == f.generation)
            .and_then(|s| s.file.as_mut())
            .ok_or(FsError::BadHandle)?;
        if s.ino == 0 {
            return Err(FsError::NotFound);
        }
        Ok(s)
    }

    /// Closes `f`.
    pub fn remove(&mut self, f: File) -> Result<(), FsError> {
        let s = self
            .slots
            .get_mut(f.slot as usize)
            .filter(|s| s.generation == f.generation && s.file.is_some())
            .ok_or(FsError::BadHandle)?;
        s.file = None;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(f.slot);
        Ok(())
    }

    /// Marks every handle of inode `ino` as referring to a removed file.
    pub fn invalidate(&mut self, ino: u32) {
        for s in &mut self.slots {
            if let Some(f) = s.file.as_mut().filter(|f| f.ino == ino) {
                f.ino = 0;
            }
        }
    }
}

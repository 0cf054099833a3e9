//! The spool directory: numbered segment files of framed records.
//!
//! Guarantees:
//! - [`SegmentWriter::append`] returns `Ok` only after the record's bytes (and, for
//!   a new segment, the directory entry) have been synced to disk.
//! - A failed append never leaves a partial frame in front of later ones: the
//!   writer cuts the file back to its last whole frame, or moves to a new segment,
//!   before it writes again.
//! - Segments are only ever appended to, never rewritten; a segment is deleted as a
//!   whole once everything in it is stored elsewhere.

use super::codec::{self, ScanStop, SEGMENT_MAGIC};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Segment ids grow by one; the file name is the id, zero-padded, so names sort.
pub type SegmentId = u64;

const SUFFIX: &str = "seg";

pub fn segment_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!("{id:016}.{SUFFIX}"))
}

/// The ids of the segment files in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<SegmentId>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name
            .strip_suffix(&format!(".{SUFFIX}"))
            .and_then(|stem| stem.parse::<SegmentId>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// A segment's records as read back at start-up.
#[derive(Debug)]
pub struct SegmentContents {
    pub payloads: Vec<Vec<u8>>,
    /// Set when reading stopped early; the bytes after that point are not used.
    pub stop: Option<ScanStop>,
    pub unread_bytes: usize,
}

/// Reads one segment whole.
pub fn read_segment(dir: &Path, id: SegmentId) -> io::Result<SegmentContents> {
    let bytes = std::fs::read(segment_path(dir, id))?;
    let Some(body) = bytes.strip_prefix(SEGMENT_MAGIC.as_slice()) else {
        // A crash between creating the file and syncing its header leaves it
        // shorter than the magic; anything else is not our file.
        let stop = if SEGMENT_MAGIC.starts_with(&bytes) {
            ScanStop::TornTail
        } else {
            ScanStop::Corrupt
        };
        return Ok(SegmentContents {
            payloads: Vec::new(),
            stop: Some(stop),
            unread_bytes: bytes.len(),
        });
    };
    let scan = codec::scan_frames(body);
    Ok(SegmentContents {
        payloads: scan.payloads.iter().map(|p| p.to_vec()).collect(),
        stop: scan.stop,
        unread_bytes: body.len() - scan.valid_len,
    })
}

/// Appends records to the newest segment, starting a new one past a size.
pub struct SegmentWriter {
    dir: PathBuf,
    file: File,
    id: SegmentId,
    len: u64,
    max_segment_bytes: u64,
    /// After a failed write the current file may hold a partial frame.
    damaged: bool,
}

impl SegmentWriter {
    /// Starts a new segment numbered after every existing one.
    pub fn create(dir: &Path, next_id: SegmentId, max_segment_bytes: u64) -> io::Result<Self> {
        let (file, len) = new_segment(dir, next_id)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            id: next_id,
            len,
            max_segment_bytes,
            damaged: false,
        })
    }

    /// Writes `frames` (whole frames) and syncs them; returns the segment they are in.
    pub fn append(&mut self, frames: &[u8]) -> io::Result<SegmentId> {
        if self.damaged || self.len >= self.max_segment_bytes {
            self.rotate()?;
        }
        let result = self
            .file
            .write_all(frames)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += frames.len() as u64;
                Ok(self.id)
            }
            Err(err) => {
                // Cut back to the last whole frame so the segment stays readable
                // to its end; if even that fails, the next append starts afresh.
                self.damaged = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_data())
                    .is_err();
                Err(err)
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = self.id + 1;
        let (file, len) = new_segment(&self.dir, next)?;
        self.file = file;
        self.id = next;
        self.len = len;
        self.damaged = false;
        Ok(())
    }
}

fn new_segment(dir: &Path, id: SegmentId) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, id))?;
    file.write_all(SEGMENT_MAGIC)?;
    file.sync_all()?;
    // The new name must survive a crash too, or its synced records are unreachable.
    File::open(dir)?.sync_all()?;
    Ok((file, SEGMENT_MAGIC.len() as u64))
}

/// Deletes segments `from..until`; they must hold nothing that is not stored.
pub fn delete_segments(dir: &Path, from: SegmentId, until: SegmentId) -> io::Result<()> {
    for id in from..until {
        match std::fs::remove_file(segment_path(dir, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Keeps a segment that could not be read whole, under another name, so that
/// nothing is deleted that someone may want to inspect.
pub fn set_aside(dir: &Path, id: SegmentId) -> io::Result<PathBuf> {
    let to = dir.join(format!("{id:016}.damaged"));
    std::fs::rename(segment_path(dir, id), &to)?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        codec::push_frame(&mut out, payload);
        out
    }

    #[test]
    fn appended_records_read_back_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 1, 40).unwrap();
        let mut used = Vec::new();
        for i in 0..5u8 {
            used.push(w.append(&frame(&[i; 20])).unwrap());
        }
        // 8 bytes of magic + 28 per frame: a second frame passes 40 bytes.
        assert_eq!(used, vec![1, 1, 2, 2, 3]);
        assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 2, 3]);
        let read: Vec<Vec<u8>> = [1, 2, 3]
            .iter()
            .flat_map(|&id| read_segment(dir.path(), id).unwrap().payloads)
            .collect();
        assert_eq!(read, (0..5u8).map(|i| vec![i; 20]).collect::<Vec<_>>());
    }

    #[test]
    fn a_half_written_tail_is_reported_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 7, 1 << 20).unwrap();
        w.append(&frame(b"whole")).unwrap();
        let torn = frame(b"never finished");
        w.append(&torn[..torn.len() - 3]).unwrap();
        let got = read_segment(dir.path(), 7).unwrap();
        assert_eq!(got.payloads, vec![b"whole".to_vec()]);
        assert_eq!(got.stop, Some(ScanStop::TornTail));
        assert_eq!(got.unread_bytes, torn.len() - 3);
    }

    #[test]
    fn a_file_cut_inside_the_magic_is_a_torn_tail_and_a_foreign_file_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(dir.path(), 1), &SEGMENT_MAGIC[..3]).unwrap();
        std::fs::write(segment_path(dir.path(), 2), b"something else").unwrap();
        assert_eq!(
            read_segment(dir.path(), 1).unwrap().stop,
            Some(ScanStop::TornTail)
        );
        assert_eq!(
            read_segment(dir.path(), 2).unwrap().stop,
            Some(ScanStop::Corrupt)
        );
    }

    #[test]
    fn deleting_a_range_leaves_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 1, 0).unwrap();
        for _ in 0..4 {
            w.append(&frame(b"x")).unwrap();
        }
        delete_segments(dir.path(), 1, 4).unwrap();
        assert_eq!(list_segments(dir.path()).unwrap(), vec![4, 5]);
    }
}

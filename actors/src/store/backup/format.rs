//! The backup file: a header, the state trees' entries as stored (sealed where the tree seals, so the file
//! holds no PII in clear), and a trailer with the entry count and a SHA-256 of everything before it.
//!
//! ```text
//! "digit-user backup 1\n"
//! u32 header length, header JSON
//! per entry: u8 tree tag, u32 key length, key, u32 value length (0xFFFF_FFFF = removed), value
//! u8 0, u64 entry count, 32 bytes SHA-256 of every byte above, 32 bytes HMAC-SHA256 of the same bytes
//! ```
//! All integers big-endian. A removal appears when a key written during the scan was removed after it.
//! The SHA-256 lets anyone check the file is whole; the HMAC, keyed from the deployment's blind-index key,
//! lets a restore check that the deployment wrote it — some trees (lockouts, refresh families,
//! revocations) are stored unsealed, and an edited file must not hand out a login.

use std::io::{self, Read, Write};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BackupError;
use crate::store::writes::{Op, TreeId};

const MAGIC: &[u8] = b"digit-user backup 1\n";
const REMOVED: u32 = u32::MAX;
/// Longer keys or values than this are not ours: the file is corrupt.
const MAX_LEN: u32 = 64 << 20;

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// The store schema the entries are in.
    pub schema: u32,
    /// When the backup began, epoch ms.
    pub created_ms: i64,
    /// The blind-index key's fingerprint (hex): a restore needs the same key.
    pub blind_fingerprint: String,
    /// The sealing canary (base64): a restore's sealing keys must open it.
    pub seal_canary: String,
    /// Entries in the state trees when the backup began (for progress; the file may hold more).
    pub entries_at_start: u64,
}

/// The key that authenticates backups, derived from the deployment's blind-index key.
pub type MacKey = [u8; 32];

fn mac(key: &MacKey) -> Hmac<Sha256> {
    <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length")
}

/// Writes a backup, hashing as it goes.
pub struct BackupWriter<W: Write> {
    out: W,
    hash: Sha256,
    mac: Hmac<Sha256>,
    count: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup on `out` with `header`, authenticated under `key`.
    pub fn start(out: W, header: &BackupHeader, key: &MacKey) -> Result<Self, BackupError> {
        let mut writer = Self {
            out,
            hash: Sha256::new(),
            mac: mac(key),
            count: 0,
        };
        let json = serde_json::to_vec(header).map_err(|e| BackupError::Format(e.to_string()))?;
        writer.put(MAGIC)?;
        writer.put(&(json.len() as u32).to_be_bytes())?;
        writer.put(&json)?;
        Ok(writer)
    }

    /// Appends one entry.
    pub fn entry(&mut self, op: &Op) -> Result<(), BackupError> {
        self.put(&[op.tree as u8])?;
        self.put(&(op.key.len() as u32).to_be_bytes())?;
        self.put(&op.key)?;
        match &op.value {
            Some(value) => {
                self.put(&(value.len() as u32).to_be_bytes())?;
                self.put(value)?;
            }
            None => self.put(&REMOVED.to_be_bytes())?,
        }
        self.count += 1;
        Ok(())
    }

    /// Entries written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the trailer and returns the output and the entry count.
    pub fn finish(mut self) -> Result<(W, u64), BackupError> {
        self.put(&[0])?;
        self.put(&self.count.to_be_bytes())?;
        let digest = self.hash.clone().finalize();
        let tag = self.mac.clone().finalize().into_bytes();
        self.out.write_all(&digest)?;
        self.out.write_all(&tag)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.mac.update(bytes);
        self.out.write_all(bytes)
    }
}

/// Reads a backup: its header, then its entries; the last `next` checks the trailer, so a reader that
/// reached the end without an error has read a whole file — and, given the key, one this deployment wrote.
pub struct BackupReader<R: Read> {
    input: R,
    hash: Sha256,
    mac: Option<Hmac<Sha256>>,
    header: BackupHeader,
    count: u64,
    done: bool,
}

impl<R: Read> BackupReader<R> {
    /// Reads the magic and the header; with `key`, the trailer's HMAC is checked too.
    pub fn open(input: R, key: Option<&MacKey>) -> Result<Self, BackupError> {
        let mut reader = Self {
            input,
            hash: Sha256::new(),
            mac: key.map(mac),
            header: BackupHeader {
                schema: 0,
                created_ms: 0,
                blind_fingerprint: String::new(),
                seal_canary: String::new(),
                entries_at_start: 0,
            },
            count: 0,
            done: false,
        };
        let magic = reader.take(MAGIC.len() as u32)?;
        if magic != MAGIC {
            return Err(BackupError::Format("not a digit-user backup".into()));
        }
        let len = reader.u32()?;
        let json = reader.take(len)?;
        reader.header =
            serde_json::from_slice(&json).map_err(|e| BackupError::Format(e.to_string()))?;
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// The next entry; `None` after the trailer checked out.
    pub fn next_entry(&mut self) -> Result<Option<Op>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let tag = self.take(1)?[0];
        if tag == 0 {
            let count = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
            let expected = self.hash.clone().finalize();
            let mut stored = [0u8; 64];
            self.input.read_exact(&mut stored).map_err(truncated)?;
            if stored[..32] != expected[..] || count != self.count {
                return Err(BackupError::Checksum);
            }
            if let Some(mac) = self.mac.take()
                && mac.verify_slice(&stored[32..]).is_err()
            {
                return Err(BackupError::NotOurs);
            }
            let mut more = [0u8; 1];
            if self.input.read(&mut more)? != 0 {
                return Err(BackupError::Format(
                    "bytes after the trailer (two files joined?)".into(),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let tree = TreeId::from_tag(tag)
            .ok_or_else(|| BackupError::Format(format!("unknown tree tag {tag}")))?;
        let key_len = self.u32()?;
        let key = self.take(key_len)?;
        let value = match self.u32()? {
            REMOVED => None,
            len => Some(self.take(len)?),
        };
        self.count += 1;
        Ok(Some(Op { tree, key, value }))
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn take(&mut self, len: u32) -> Result<Vec<u8>, BackupError> {
        if len > MAX_LEN {
            return Err(BackupError::Format(format!("an entry of {len} bytes")));
        }
        let mut buf = vec![0u8; len as usize];
        self.input.read_exact(&mut buf).map_err(truncated)?;
        self.hash.update(&buf);
        if let Some(mac) = &mut self.mac {
            mac.update(&buf);
        }
        Ok(buf)
    }
}

fn truncated(e: io::Error) -> BackupError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BackupError::Format("the file ends early (an interrupted backup?)".into())
    } else {
        BackupError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BackupHeader {
        BackupHeader {
            schema: 1,
            created_ms: 5,
            blind_fingerprint: "ab".into(),
            seal_canary: "cd".into(),
            entries_at_start: 2,
        }
    }

    fn ops() -> Vec<Op> {
        vec![
            Op {
                tree: TreeId::Users,
                key: b"k1".to_vec(),
                value: Some(b"sealed".to_vec()),
            },
            Op {
                tree: TreeId::Revoked,
                key: b"k2".to_vec(),
                value: None,
            },
        ]
    }

    const KEY: MacKey = [5; 32];

    fn written() -> Vec<u8> {
        let mut w = BackupWriter::start(Vec::new(), &header(), &KEY).unwrap();
        for op in ops() {
            w.entry(&op).unwrap();
        }
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<(BackupHeader, Vec<Op>), BackupError> {
        read_keyed(bytes, Some(&KEY))
    }

    fn read_keyed(
        bytes: &[u8],
        key: Option<&MacKey>,
    ) -> Result<(BackupHeader, Vec<Op>), BackupError> {
        let mut r = BackupReader::open(bytes, key)?;
        let mut out = Vec::new();
        while let Some(op) = r.next_entry()? {
            out.push(op);
        }
        Ok((r.header().clone(), out))
    }

    #[test]
    fn what_is_written_reads_back() {
        assert_eq!(read_all(&written()).unwrap(), (header(), ops()));
    }

    #[test]
    fn a_file_made_with_another_key_is_whole_but_not_ours() {
        let good = written();
        assert!(
            read_keyed(&good, None).is_ok(),
            "anyone can check it is whole"
        );
        assert!(matches!(
            read_keyed(&good, Some(&[6; 32])),
            Err(BackupError::NotOurs)
        ));
        // an edited file with a recomputed SHA-256 (an attacker without the key can do that much)
        let mut forged = good.clone();
        let body_end = forged.len() - 64;
        let value = forged.windows(6).position(|w| w == b"sealed").unwrap();
        forged[value] ^= 1;
        let digest = Sha256::digest(&forged[..body_end]);
        forged[body_end..body_end + 32].copy_from_slice(&digest);
        assert!(read_keyed(&forged, None).is_ok());
        assert!(matches!(read_all(&forged), Err(BackupError::NotOurs)));
    }

    #[test]
    fn bytes_after_the_trailer_are_refused() {
        let mut joined = written();
        joined.push(0);
        assert!(matches!(read_all(&joined), Err(BackupError::Format(_))));
    }

    #[test]
    fn any_changed_byte_or_a_cut_is_refused() {
        let good = written();
        for i in MAGIC.len() + 4..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(read_all(&bad).is_err(), "byte {i} changed and accepted");
        }
        for cut in [good.len() - 1, good.len() - 65, MAGIC.len() + 2] {
            assert!(
                matches!(read_all(&good[..cut]), Err(BackupError::Format(_))),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            read_all(b"something else entirely"),
            Err(BackupError::Format(_))
        ));
    }
}

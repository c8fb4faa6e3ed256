//! Persistence of the single-host cluster state: an append-only log of the store's changes
//! with snapshots, in one directory, so that a restarted `flotilla host` finds every object it
//! acknowledged (issue 8).
//!
//! # Files
//!
//! - `log`: framed records, one per watch event ([`StateLog::append`]): a `put` with the
//!   object as JSON, or a `delete` with the object's key, each with the event's
//!   resourceVersion. Every append is written and `fsync`ed before it returns, so the caller
//!   acknowledges an API write only once it is on disk (what etcd's WAL does before it
//!   answers).
//! - `snapshot`: a header record (the store's resourceVersion and how many objects follow),
//!   then one `put` per object.
//! - `snapshot.tmp`: a snapshot being written; never read, removed on open.
//!
//! # Framing
//!
//! A record is a 12-byte header — the magic `F1 07 A5 1A`, the payload's length and the
//! payload's CRC-32 (IEEE), both little-endian `u32` — and the JSON payload. The magic contains
//! bytes that UTF-8 JSON never holds, so the search for a later record (below) cannot find one
//! inside a payload.
//!
//! The records of one [`append`](StateLog::append) form a batch: each carries the batch's id
//! (its first record's resourceVersion), and the last one is marked. A batch counts only when
//! complete, so one store write that produced several events (an object and the quota it is
//! charged to) is restored whole or not at all.
//!
//! # Recovery
//!
//! [`StateLog::open`] loads the snapshot, then replays the log's records whose resourceVersion
//! is above the snapshot's. At the first bad record (a length that runs past the end of the
//! file, a CRC mismatch, a missing magic, a payload that does not decode) it looks for a valid
//! record after it:
//!
//! - none, or only records of the batch that was being written (the disk may persist the
//!   pages of an unsynced write in any order): a **torn write** at the end, from a crash
//!   during an append that was never acknowledged. The incomplete batch and everything after
//!   it are cut off (the file is truncated and synced) and reported as a [`TornTail`];
//! - a record of another batch: the bad record was once synced, so this is **corruption**,
//!   reported as [`PersistError::Corrupt`] with the file and the byte offset; nothing is
//!   skipped silently.
//!
//! A log that ends with a complete record of an unfinished batch is a torn write too. Damage
//! inside the last batch of the log looks like a torn write and is treated as one: nothing
//! on disk tells whether that batch's `fsync` had completed.
//!
//! # Snapshots and crashes
//!
//! [`StateLog::snapshot`] takes these steps; a crash between any two recovers correctly:
//!
//! 1. write every object to `snapshot.tmp` and `fsync` it. A crash here leaves a partial
//!    `snapshot.tmp`, which open removes; the old snapshot and the log are intact.
//! 2. rename `snapshot.tmp` over `snapshot` and `fsync` the directory (rename is atomic: the
//!    directory holds the old or the new snapshot, never a mix). A crash before the directory
//!    sync may bring back the old snapshot, with the log that goes with it.
//! 3. truncate the log to nothing and `fsync` it. A crash before this leaves the new snapshot
//!    with the old log, whose records are all at or below the snapshot's resourceVersion and
//!    are skipped on replay.
//!
//! Records are therefore replayed only above the snapshot's version, and the versions in the
//! log must increase (a record at or below its predecessor is corruption).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flotilla_model::store::{ObjectKey, Store, WatchEvent, WatchEventType};
use flotilla_model::{Kind, Object};
use serde::{Deserialize, Serialize};

/// The name of the log file in the state directory.
pub const LOG_FILE: &str = "log";
/// The name of the snapshot file in the state directory.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// The name of the snapshot being written.
pub const SNAPSHOT_TMP_FILE: &str = "snapshot.tmp";

/// The first bytes of every record. `0xF1` followed by `0x07` is not UTF-8, so no JSON payload
/// contains them.
const MAGIC: [u8; 4] = [0xF1, 0x07, 0xA5, 0x1A];
/// Magic, length and CRC.
const HEADER_LEN: usize = 12;
/// The largest payload a record may claim; a longer length is a damaged header.
const MAX_PAYLOAD: u32 = 256 << 20;

/// Why the state log failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A file operation failed.
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `write`, `sync`, `rename`, …).
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file holds a record that cannot be read and is not a torn write at its end.
    #[error("corrupt state in {} at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// An event could not be encoded.
    #[error("cannot encode the record of {key}: {source}")]
    Encode {
        /// The object's key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An earlier write or sync failed, so what the file holds is unknown: the log takes no
    /// more records until it is opened again (which recovers what was synced).
    #[error("the log {} is unusable after a failed write; reopen it", path.display())]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },
}

/// A torn write found at the end of the log and cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the log now ends: the start of the incomplete batch.
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped_bytes: u64,
}

impl std::fmt::Display for TornTail {
    /// `612 bytes from byte 2462`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes from byte {}", self.dropped_bytes, self.offset)
    }
}

/// What [`StateLog::open`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered {
    /// Every object, in key order (kind, namespace, name).
    pub objects: Vec<Object>,
    /// The resourceVersion of the latest write (zero when nothing was ever written).
    pub resource_version: u64,
    /// The torn write cut off the end of the log, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// When [`StateLog::should_snapshot`] says a snapshot is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// After this many records in the log.
    pub max_records: u64,
    /// After the log grows to this many bytes.
    pub max_bytes: u64,
}

impl Default for SnapshotPolicy {
    /// Every 10 000 records or 64 MiB, whichever comes first (etcd's default
    /// `--snapshot-count` is 10 000 entries).
    fn default() -> Self {
        SnapshotPolicy {
            max_records: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

/// One record's payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
enum Payload {
    /// An object as written (created or updated).
    #[serde(rename_all = "camelCase")]
    Put {
        resource_version: u64,
        batch: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        last: bool,
        object: serde_json::Value,
    },
    /// An object removed.
    #[serde(rename_all = "camelCase")]
    Delete {
        resource_version: u64,
        batch: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        last: bool,
        api_version: String,
        kind: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        namespace: String,
        name: String,
    },
    /// The header of a snapshot.
    #[serde(rename_all = "camelCase")]
    Snapshot { resource_version: u64, objects: u64 },
}

impl Payload {
    /// The record's resourceVersion, unless it is a snapshot header.
    fn resource_version(&self) -> Option<u64> {
        match self {
            Payload::Put {
                resource_version, ..
            }
            | Payload::Delete {
                resource_version, ..
            } => Some(*resource_version),
            Payload::Snapshot { .. } => None,
        }
    }

    fn batch(&self) -> Option<(u64, bool)> {
        match self {
            Payload::Put { batch, last, .. } | Payload::Delete { batch, last, .. } => {
                Some((*batch, *last))
            }
            Payload::Snapshot { .. } => None,
        }
    }
}

/// A change read back from a file.
enum Change {
    Put(ObjectKey, Box<Object>),
    Delete(ObjectKey),
}

/// The persisted state of one single-host cluster. See the [module docs](self).
#[derive(Debug)]
pub struct StateLog {
    dir: PathBuf,
    log_path: PathBuf,
    log: File,
    /// The length of the log: where the next record goes.
    len: u64,
    records: u64,
    policy: SnapshotPolicy,
    poisoned: bool,
}

impl StateLog {
    /// Opens (creating it if needed) the state in `dir` with the default [`SnapshotPolicy`],
    /// and recovers what it holds. See [`open_with`](StateLog::open_with).
    pub fn open(dir: &Path) -> Result<(StateLog, Recovered), PersistError> {
        StateLog::open_with(dir, SnapshotPolicy::default())
    }

    /// Opens (creating it if needed) the state in `dir` and recovers what it holds: the
    /// snapshot, then the log's records after it. A torn write at the end of the log is cut
    /// off and reported in [`Recovered::torn_tail`]; any other unreadable record is an error.
    /// A leftover `snapshot.tmp` is removed.
    pub fn open_with(
        dir: &Path,
        policy: SnapshotPolicy,
    ) -> Result<(StateLog, Recovered), PersistError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let tmp = dir.join(SNAPSHOT_TMP_FILE);
        match fs::remove_file(&tmp) {
            Ok(()) => sync_dir(dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &tmp)(e)),
        }

        let mut objects = BTreeMap::new();
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot_version = match read_file(&snapshot_path)? {
            Some(bytes) => load_snapshot(&snapshot_path, &bytes, &mut objects)?,
            None => 0,
        };

        let log_path = dir.join(LOG_FILE);
        let existed = log_path.exists();
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(io("open", &log_path))?;
        if !existed {
            log.sync_all().map_err(io("sync", &log_path))?;
            sync_dir(dir)?;
        }
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes).map_err(io("read", &log_path))?;
        let scan = scan_log(&log_path, &bytes)?;
        let mut torn_tail = None;
        if scan.end < bytes.len() {
            log.set_len(scan.end as u64)
                .map_err(io("truncate", &log_path))?;
            log.sync_all().map_err(io("sync", &log_path))?;
            torn_tail = Some(TornTail {
                offset: scan.end as u64,
                dropped_bytes: (bytes.len() - scan.end) as u64,
            });
        }
        let mut resource_version = snapshot_version;
        for (version, change) in scan.changes {
            if version <= snapshot_version {
                // Already in the snapshot: a crash came between the snapshot's rename and
                // the log's truncation.
                continue;
            }
            resource_version = version;
            match change {
                Change::Put(key, object) => {
                    objects.insert(key, *object);
                }
                Change::Delete(key) => {
                    objects.remove(&key);
                }
            }
        }
        let state = StateLog {
            dir: dir.to_path_buf(),
            log_path,
            log,
            len: scan.end as u64,
            records: scan.records,
            policy,
            poisoned: false,
        };
        let recovered = Recovered {
            objects: objects.into_values().collect(),
            resource_version,
            torn_tail,
        };
        Ok((state, recovered))
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many records the log holds (since the last snapshot, or since it was created).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// How many bytes the log holds.
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// Appends one record per event — the object for `Added` and `Modified`, the key for
    /// `Deleted`, each with the event's resourceVersion — as one batch, and `fsync`s the log
    /// before returning: once this returns `Ok`, the events survive a crash. The events must
    /// come in store order (increasing resourceVersions).
    ///
    /// When the write or the sync fails, the log is cut back to where it was (if it can be)
    /// and refuses further appends ([`PersistError::Poisoned`]): after a failed `fsync` the
    /// kernel may have dropped the unsynced pages, so only reopening tells what is on disk.
    pub fn append(&mut self, events: &[WatchEvent]) -> Result<(), PersistError> {
        if self.poisoned {
            return Err(PersistError::Poisoned {
                path: self.log_path.clone(),
            });
        }
        let Some(first) = events.first() else {
            return Ok(());
        };
        let batch = first.resource_version;
        let mut buffer = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let last = i + 1 == events.len();
            let payload = event_payload(event, batch, last);
            frame(&payload, &mut buffer).map_err(|source| PersistError::Encode {
                key: ObjectKey::of(&event.object).to_string(),
                source,
            })?;
        }
        let written = self
            .log
            .write_all_at(&buffer, self.len)
            .map_err(io("write", &self.log_path))
            .and_then(|()| self.log.sync_data().map_err(io("sync", &self.log_path)));
        if let Err(e) = written {
            self.poisoned = true;
            // Best effort: a later open treats whatever is left as a torn tail anyway.
            let _ = self.log.set_len(self.len);
            return Err(e);
        }
        self.len += buffer.len() as u64;
        self.records += events.len() as u64;
        Ok(())
    }

    /// Whether the log has grown past the [`SnapshotPolicy`].
    pub fn should_snapshot(&self) -> bool {
        self.records >= self.policy.max_records || self.len >= self.policy.max_bytes
    }

    /// Writes every object of `store` and its resourceVersion as the new snapshot, then
    /// empties the log, in the crash-safe order of the [module docs](self). `store` must hold
    /// every change appended so far.
    pub fn snapshot(&mut self, store: &Store) -> Result<(), PersistError> {
        if self.poisoned {
            return Err(PersistError::Poisoned {
                path: self.log_path.clone(),
            });
        }
        let objects: Vec<&Object> = Kind::ALL
            .iter()
            .flat_map(|k| store.iter_kind(*k))
            .map(|o| &**o)
            .collect();
        let mut buffer = Vec::new();
        let header = Payload::Snapshot {
            resource_version: store.resource_version(),
            objects: objects.len() as u64,
        };
        frame(&header, &mut buffer).map_err(|source| PersistError::Encode {
            key: "snapshot header".into(),
            source,
        })?;
        for object in objects {
            let rv = object.metadata().resource_version.parse().unwrap_or(0);
            let payload = Payload::Put {
                resource_version: rv,
                batch: 0,
                last: false,
                object: object.to_value(),
            };
            frame(&payload, &mut buffer).map_err(|source| PersistError::Encode {
                key: ObjectKey::of(object).to_string(),
                source,
            })?;
        }
        // Step 1: the new snapshot, durable under its temporary name.
        let tmp = self.dir.join(SNAPSHOT_TMP_FILE);
        {
            let mut file = File::create(&tmp).map_err(io("create", &tmp))?;
            file.write_all(&buffer).map_err(io("write", &tmp))?;
            file.sync_all().map_err(io("sync", &tmp))?;
        }
        // Step 2: atomically in place, and the directory entry durable.
        let path = self.dir.join(SNAPSHOT_FILE);
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        sync_dir(&self.dir)?;
        // Step 3: the log's records are all in the snapshot now.
        let emptied = self
            .log
            .set_len(0)
            .map_err(io("truncate", &self.log_path))
            .and_then(|()| self.log.sync_all().map_err(io("sync", &self.log_path)));
        if let Err(e) = emptied {
            // The snapshot is in place; the old records are skipped on replay. But where the
            // next record would go is unknown now.
            self.poisoned = true;
            return Err(e);
        }
        self.len = 0;
        self.records = 0;
        Ok(())
    }
}

/// The record of one watch event.
fn event_payload(event: &WatchEvent, batch: u64, last: bool) -> Payload {
    let resource_version = event.resource_version;
    match event.event_type {
        WatchEventType::Added | WatchEventType::Modified => Payload::Put {
            resource_version,
            batch,
            last,
            object: event.object.to_value(),
        },
        WatchEventType::Deleted => {
            let meta = event.object.metadata();
            let kind = event.object.kind();
            Payload::Delete {
                resource_version,
                batch,
                last,
                api_version: kind.api_version().to_string(),
                kind: kind.name().to_string(),
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
            }
        }
    }
}

/// Appends the framed `payload` to `out`.
fn frame(payload: &Payload, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let body = serde_json::to_vec(payload)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_PAYLOAD)
        .ok_or_else(|| {
            <serde_json::Error as serde::ser::Error>::custom("the record is larger than 256 MiB")
        })?;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// Reads the record at `offset`: its payload and where the next record starts, or why it
/// cannot be read.
fn read_frame(bytes: &[u8], offset: usize) -> Result<(Payload, usize), String> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER_LEN {
        return Err(format!(
            "the record header is cut short ({} of {HEADER_LEN} bytes)",
            rest.len()
        ));
    }
    if rest[..4] != MAGIC {
        return Err("no record starts here (bad magic)".into());
    }
    let word = |at: usize| u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
    let len = word(4);
    if len > MAX_PAYLOAD {
        return Err(format!("the record claims {len} bytes"));
    }
    let end = HEADER_LEN + len as usize;
    if rest.len() < end {
        return Err(format!(
            "the record's {len} bytes run past the end of the file"
        ));
    }
    let body = &rest[HEADER_LEN..end];
    if crc32(body) != word(8) {
        return Err("the record's checksum does not match".into());
    }
    let payload = serde_json::from_slice(body).map_err(|e| format!("bad record: {e}"))?;
    Ok((payload, offset + end))
}

/// The key and object of a `put`, or the key of a `delete`.
fn decode_change(payload: Payload) -> Result<(u64, Change), String> {
    match payload {
        Payload::Put {
            resource_version,
            object,
            ..
        } => {
            let type_of = |field: &str| {
                object
                    .get(field)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (api_version, kind) = (type_of("apiVersion"), type_of("kind"));
            let kind = Kind::from_type(&api_version, &kind)
                .ok_or_else(|| format!("unknown kind {api_version}/{kind}"))?;
            let object = Object::from_value(kind, object)
                .map_err(|e| format!("the {kind} does not decode: {e}"))?;
            Ok((
                resource_version,
                Change::Put(ObjectKey::of(&object), Box::new(object)),
            ))
        }
        Payload::Delete {
            resource_version,
            api_version,
            kind,
            namespace,
            name,
            ..
        } => {
            let kind = Kind::from_type(&api_version, &kind)
                .ok_or_else(|| format!("unknown kind {api_version}/{kind}"))?;
            let key = ObjectKey {
                kind,
                namespace,
                name,
            };
            Ok((resource_version, Change::Delete(key)))
        }
        Payload::Snapshot { .. } => Err("a snapshot header in the log".into()),
    }
}

/// What the log holds up to its last complete batch.
struct LogScan {
    /// The changes of the complete batches, in order, with their resourceVersions.
    changes: Vec<(u64, Change)>,
    records: u64,
    /// Where the last complete batch ends: what follows is a torn write.
    end: usize,
}

/// Reads the log's records; see the [module docs](self) for how a bad record is judged.
fn scan_log(path: &Path, bytes: &[u8]) -> Result<LogScan, PersistError> {
    let corrupt = |offset: usize, reason: String| PersistError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut scan = LogScan {
        changes: Vec::new(),
        records: 0,
        end: 0,
    };
    // The records of the batch being read, not yet known to be complete.
    let mut pending: Vec<(u64, Change)> = Vec::new();
    let mut pending_batch = None;
    let mut previous_version = 0;
    let mut offset = 0;
    while offset < bytes.len() {
        let parsed = read_frame(bytes, offset).and_then(|(payload, next)| {
            let (batch, last) = payload
                .batch()
                .ok_or_else(|| "a snapshot header in the log".to_string())?;
            Ok((batch, last, decode_change(payload)?, next))
        });
        let (batch, last, (version, change), next) = match parsed {
            Ok(record) => record,
            Err(reason) => {
                if let Some(later) =
                    valid_record_after(bytes, offset, pending_batch, previous_version)
                {
                    return Err(corrupt(
                        offset,
                        format!("{reason}, and a valid record follows at byte {later}"),
                    ));
                }
                // A torn write: the scan ends at the last complete batch.
                return Ok(scan);
            }
        };
        if version <= previous_version {
            return Err(corrupt(
                offset,
                format!("resourceVersion {version} does not follow {previous_version}"),
            ));
        }
        if pending_batch.is_some_and(|b| b != batch) {
            return Err(corrupt(
                offset,
                format!(
                    "batch {batch} starts before batch {} ended",
                    pending_batch.unwrap_or_default()
                ),
            ));
        }
        previous_version = version;
        pending.push((version, change));
        pending_batch = Some(batch);
        offset = next;
        if last {
            scan.records += pending.len() as u64;
            scan.changes.append(&mut pending);
            pending_batch = None;
            scan.end = offset;
        }
    }
    Ok(scan)
}

/// The offset of a valid record after the bad one at `offset` that cannot belong to the torn
/// batch, if there is one. The torn batch is `pending` when records of it precede the bad
/// one; otherwise it starts with the bad record, so a later record of it is never its first
/// (a batch's id is its first record's resourceVersion) and its id is above
/// `previous_version`. Every tolerated record must be of that one batch.
fn valid_record_after(
    bytes: &[u8],
    offset: usize,
    pending: Option<u64>,
    previous_version: u64,
) -> Option<usize> {
    let mut torn = pending;
    let mut at = offset + 1;
    while at + HEADER_LEN <= bytes.len() {
        let found = bytes[at..].windows(4).position(|w| w == MAGIC)?;
        at += found;
        let Ok((payload, next)) = read_frame(bytes, at) else {
            at += 1;
            continue;
        };
        let (Some((batch, _)), Some(version)) = (payload.batch(), payload.resource_version())
        else {
            return Some(at);
        };
        let of_torn_batch = version != batch
            && match torn {
                Some(t) => batch == t,
                None => batch > previous_version,
            };
        if !of_torn_batch {
            return Some(at);
        }
        torn = Some(batch);
        at = next;
    }
    None
}

/// Loads a snapshot into `objects` and returns its resourceVersion. A snapshot is only ever
/// renamed into place complete and synced, so any flaw in it is corruption.
fn load_snapshot(
    path: &Path,
    bytes: &[u8],
    objects: &mut BTreeMap<ObjectKey, Object>,
) -> Result<u64, PersistError> {
    let corrupt = |offset: usize, reason: String| PersistError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let (header, mut offset) = read_frame(bytes, 0).map_err(|r| corrupt(0, r))?;
    let Payload::Snapshot {
        resource_version,
        objects: count,
    } = header
    else {
        return Err(corrupt(0, "the snapshot has no header".into()));
    };
    for _ in 0..count {
        let at = offset;
        let (payload, next) = read_frame(bytes, at).map_err(|r| corrupt(at, r))?;
        match decode_change(payload).map_err(|r| corrupt(at, r))? {
            (version, Change::Put(key, object)) if version <= resource_version => {
                if objects.insert(key.clone(), *object).is_some() {
                    return Err(corrupt(at, format!("{key} is in the snapshot twice")));
                }
            }
            (version, Change::Put(..)) => {
                return Err(corrupt(
                    at,
                    format!(
                        "resourceVersion {version} is newer than the snapshot's {resource_version}"
                    ),
                ))
            }
            (_, Change::Delete(_)) => {
                return Err(corrupt(at, "a delete record in the snapshot".into()))
            }
        }
        offset = next;
    }
    if offset != bytes.len() {
        return Err(corrupt(
            offset,
            format!(
                "{} bytes after the snapshot's {count} objects",
                bytes.len() - offset
            ),
        ));
    }
    Ok(resource_version)
}

/// The contents of `path`, or `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, PersistError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// `fsync` of a directory, so that a created, renamed or removed entry survives a crash.
fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PersistError {
    let path = path.to_path_buf();
    move |source| PersistError::Io {
        operation,
        path,
        source,
    }
}

/// CRC-32 with the IEEE 802.3 polynomial (reflected, `0xEDB88320`; initial value and final
/// XOR `0xFFFFFFFF`), the checksum of zlib, PNG and Ethernet: "CRC-32/ISO-HDLC" in Greg
/// Cook's catalogue of parametrised CRC algorithms (reveng.sourceforge.io/crc-catalogue),
/// whose check value for `"123456789"` is `0xCBF43926`. Table-driven, one byte at a time.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::ConfigMap;
    use flotilla_model::store::{DeleteOptions, StoreConfig};
    use flotilla_model::{ObjectMeta, Time};

    /// A fresh directory, removed when dropped.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(name: &str) -> TestDir {
            let dir = std::env::temp_dir()
                .join(format!("flotilla-persist-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            TestDir(dir)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A store and the position up to which its changes were persisted.
    struct Source {
        store: Store,
        cursor: u64,
    }

    impl Source {
        fn new() -> Source {
            Source {
                store: Store::new(StoreConfig::default()),
                cursor: 0,
            }
        }

        fn put(&mut self, name: &str, value: &str) {
            let mut cm = ConfigMap {
                metadata: ObjectMeta::named("default", name),
                ..Default::default()
            };
            cm.data.insert("value".into(), value.into());
            if self.store.get(Kind::ConfigMap, "default", name).is_some() {
                self.store.update(cm.into(), Time::ZERO).unwrap();
            } else {
                self.store.create(cm.into(), Time::ZERO).unwrap();
            }
        }

        fn delete(&mut self, name: &str) {
            let options = DeleteOptions::default();
            self.store
                .delete(Kind::ConfigMap, "default", name, &options, Time::ZERO)
                .unwrap();
        }

        /// The changes since the last call.
        fn changes(&mut self) -> Vec<WatchEvent> {
            let events: Vec<WatchEvent> = self
                .store
                .changes_since(self.cursor)
                .unwrap()
                .cloned()
                .collect();
            self.cursor = self.store.resource_version();
            events
        }

        fn objects(&self) -> Vec<Object> {
            Kind::ALL
                .iter()
                .flat_map(|k| self.store.iter_kind(*k))
                .map(|o| (**o).clone())
                .collect()
        }
    }

    fn assert_recovered(recovered: &Recovered, source: &Source) {
        assert_eq!(recovered.objects, source.objects());
        assert_eq!(recovered.resource_version, source.store.resource_version());
    }

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn appended_changes_survive_a_reopen() {
        let dir = TestDir::new("round-trip");
        let mut source = Source::new();
        let (mut log, recovered) = StateLog::open(&dir.0).unwrap();
        assert!(recovered.objects.is_empty());
        assert_eq!(recovered.resource_version, 0);
        log.append(&source.changes()).unwrap();
        source.put("a", "1");
        source.put("b", "2");
        log.append(&source.changes()).unwrap();
        source.put("a", "3");
        log.append(&source.changes()).unwrap();
        drop(log);

        let (log, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
        assert_eq!(recovered.torn_tail, None);
        assert_eq!(log.records(), source.store.resource_version());
        let a = recovered
            .objects
            .iter()
            .find(|o| o.metadata().name == "a")
            .unwrap();
        let Object::ConfigMap(a) = a else {
            panic!("a ConfigMap")
        };
        assert_eq!(a.data.get("value").map(String::as_str), Some("3"));
    }

    #[test]
    fn delete_records_remove_objects() {
        let dir = TestDir::new("delete");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        source.put("a", "1");
        source.put("b", "1");
        log.append(&source.changes()).unwrap();
        source.delete("a");
        log.append(&source.changes()).unwrap();
        drop(log);
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
        assert!(!recovered.objects.iter().any(|o| o.metadata().name == "a"));
        assert!(recovered.objects.iter().any(|o| o.metadata().name == "b"));
    }

    #[test]
    fn a_snapshot_and_later_appends_survive_a_reopen() {
        let dir = TestDir::new("snapshot");
        let mut source = Source::new();
        let policy = SnapshotPolicy {
            max_records: 5,
            max_bytes: u64::MAX,
        };
        let (mut log, _) = StateLog::open_with(&dir.0, policy).unwrap();
        source.put("a", "1");
        log.append(&source.changes()).unwrap();
        assert!(log.should_snapshot());
        log.snapshot(&source.store).unwrap();
        assert_eq!((log.records(), log.len_bytes()), (0, 0));
        assert!(!log.should_snapshot());
        source.put("b", "2");
        source.delete("a");
        log.append(&source.changes()).unwrap();
        drop(log);
        let (mut log, recovered) = StateLog::open_with(&dir.0, policy).unwrap();
        assert_recovered(&recovered, &source);
        assert_eq!(log.records(), 2);
        // And again after a second snapshot, with nothing after it.
        log.snapshot(&source.store).unwrap();
        drop(log);
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_every_byte() {
        let dir = TestDir::new("torn");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        log.append(&source.changes()).unwrap();
        source.put("a", "1");
        log.append(&source.changes()).unwrap();
        let before = source.objects();
        let version = source.store.resource_version();
        let start = log.len_bytes();
        source.put("b", "2");
        log.append(&source.changes()).unwrap();
        let end = log.len_bytes();
        drop(log);
        let bytes = fs::read(dir.0.join(LOG_FILE)).unwrap();
        for cut in start + 1..end {
            let torn = TestDir::new("torn-copy");
            fs::create_dir_all(&torn.0).unwrap();
            fs::write(torn.0.join(LOG_FILE), &bytes[..cut as usize]).unwrap();
            let (mut log, recovered) = StateLog::open(&torn.0).unwrap();
            assert_eq!(recovered.objects, before, "cut at {cut}");
            assert_eq!(recovered.resource_version, version, "cut at {cut}");
            assert_eq!(
                recovered.torn_tail,
                Some(TornTail {
                    offset: start,
                    dropped_bytes: cut - start
                }),
                "cut at {cut}"
            );
            assert_eq!(fs::metadata(torn.0.join(LOG_FILE)).unwrap().len(), start);
            // The log goes on from there.
            let mut again = Source {
                store: Store::restore(StoreConfig::default(), before.clone(), version).unwrap(),
                cursor: version,
            };
            again.put("c", "3");
            log.append(&again.changes()).unwrap();
            drop(log);
            let (_, recovered) = StateLog::open(&torn.0).unwrap();
            assert_eq!(recovered.torn_tail, None);
            assert_recovered(&recovered, &again);
        }
        // Cut exactly at the record boundary: nothing is torn.
        let clean = TestDir::new("torn-clean");
        fs::create_dir_all(&clean.0).unwrap();
        fs::write(clean.0.join(LOG_FILE), &bytes[..start as usize]).unwrap();
        let (_, recovered) = StateLog::open(&clean.0).unwrap();
        assert_eq!(recovered.torn_tail, None);
        assert_eq!(recovered.objects, before);
    }

    #[test]
    fn an_incomplete_batch_is_dropped_whole() {
        let dir = TestDir::new("batch");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        log.append(&source.changes()).unwrap();
        let before = source.objects();
        let start = log.len_bytes();
        for name in ["a", "b", "c"] {
            source.put(name, "1");
        }
        let batch = source.changes();
        assert_eq!(batch.len(), 3);
        log.append(&batch).unwrap();
        drop(log);
        let path = dir.0.join(LOG_FILE);
        let bytes = fs::read(&path).unwrap();
        // Cut right after the second record: two complete records, no batch end.
        let first_len =
            12 + u32::from_le_bytes(bytes[start as usize + 4..][..4].try_into().unwrap());
        let second_at = start as usize + first_len as usize;
        let second_len = 12 + u32::from_le_bytes(bytes[second_at + 4..][..4].try_into().unwrap());
        let cut = second_at + second_len as usize;
        fs::write(&path, &bytes[..cut]).unwrap();
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_eq!(recovered.objects, before);
        let torn = recovered.torn_tail.unwrap();
        assert_eq!(
            torn,
            TornTail {
                offset: start,
                dropped_bytes: cut as u64 - start
            }
        );
        assert_eq!(
            torn.to_string(),
            format!("{} bytes from byte {start}", cut as u64 - start)
        );
    }

    #[test]
    fn a_damaged_record_inside_the_last_batch_is_a_torn_write() {
        // The pages of an unsynced write may reach the disk in any order: the first record of
        // the last batch is garbage while the later ones made it.
        let dir = TestDir::new("reordered");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        log.append(&source.changes()).unwrap();
        let before = source.objects();
        let start = log.len_bytes() as usize;
        source.put("a", "1");
        source.put("b", "1");
        log.append(&source.changes()).unwrap();
        drop(log);
        let path = dir.0.join(LOG_FILE);
        let mut bytes = fs::read(&path).unwrap();
        for b in &mut bytes[start..start + 20] {
            *b = 0;
        }
        fs::write(&path, &bytes).unwrap();
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_eq!(recovered.objects, before);
        assert_eq!(recovered.torn_tail.map(|t| t.offset), Some(start as u64));
    }

    #[test]
    fn a_corrupt_record_followed_by_good_ones_is_an_error_with_its_offset() {
        let dir = TestDir::new("corrupt");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        log.append(&source.changes()).unwrap();
        source.put("a", "1");
        let middle = log.len_bytes();
        log.append(&source.changes()).unwrap();
        source.put("b", "1");
        log.append(&source.changes()).unwrap();
        drop(log);
        let path = dir.0.join(LOG_FILE);
        let mut bytes = fs::read(&path).unwrap();
        // Flip one bit in the middle record's payload.
        bytes[middle as usize + HEADER_LEN + 5] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = StateLog::open(&dir.0).unwrap_err();
        match &err {
            PersistError::Corrupt {
                path: p,
                offset,
                reason,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*offset, middle);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected corruption, got {other}"),
        }
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("at byte {middle}")), "{message}");
        // The file is left as it was, for inspection.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_crash_while_writing_the_snapshot_keeps_the_old_state() {
        let dir = TestDir::new("crash-tmp");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        source.put("a", "1");
        log.append(&source.changes()).unwrap();
        log.snapshot(&source.store).unwrap();
        source.put("b", "1");
        log.append(&source.changes()).unwrap();
        drop(log);
        // Step 1 was under way: a partial snapshot.tmp.
        let tmp = dir.0.join(SNAPSHOT_TMP_FILE);
        fs::write(&tmp, &MAGIC[..3]).unwrap();
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
        assert!(!tmp.exists());
        // Step 1 was done, the rename not: a complete snapshot.tmp of a later state that the
        // log does not hold is ignored as well.
        let mut later = Source {
            store: source.store.clone(),
            cursor: source.cursor,
        };
        later.put("c", "1");
        let other = TestDir::new("crash-tmp-other");
        let (mut other_log, _) = StateLog::open(&other.0).unwrap();
        other_log.snapshot(&later.store).unwrap();
        fs::copy(other.0.join(SNAPSHOT_FILE), &tmp).unwrap();
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
    }

    #[test]
    fn a_crash_between_the_rename_and_the_truncation_skips_the_old_log() {
        let dir = TestDir::new("crash-log");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        log.append(&source.changes()).unwrap();
        source.put("a", "1");
        source.put("b", "1");
        log.append(&source.changes()).unwrap();
        source.delete("a");
        log.append(&source.changes()).unwrap();
        let path = dir.0.join(LOG_FILE);
        let old_log = fs::read(&path).unwrap();
        log.snapshot(&source.store).unwrap();
        drop(log);
        // The old log is back, as if step 3 had not happened.
        fs::write(&path, &old_log).unwrap();
        let (mut log, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
        // Appends after it are replayed; the old records still are not.
        source.put("a", "2");
        log.append(&source.changes()).unwrap();
        drop(log);
        let (_, recovered) = StateLog::open(&dir.0).unwrap();
        assert_recovered(&recovered, &source);
    }

    #[test]
    fn a_damaged_snapshot_is_an_error() {
        let dir = TestDir::new("bad-snapshot");
        let mut source = Source::new();
        let (mut log, _) = StateLog::open(&dir.0).unwrap();
        source.put("a", "1");
        log.snapshot(&source.store).unwrap();
        drop(log);
        let path = dir.0.join(SNAPSHOT_FILE);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        match StateLog::open(&dir.0).unwrap_err() {
            PersistError::Corrupt { path: p, .. } => assert_eq!(p, path),
            other => panic!("expected corruption, got {other}"),
        }
    }

    /// One step of a random history: store writes (`Some(value)` puts the ConfigMap
    /// `cm-<name>`, `None` deletes it if it exists) appended as one batch, then maybe a
    /// snapshot, then maybe a reopen.
    #[derive(Clone, Debug)]
    struct Step {
        writes: Vec<(u8, Option<u64>)>,
        snapshot: bool,
        reopen: bool,
    }

    /// Runs `steps` against a state log in `dir` and checks that every reopen recovers exactly
    /// the model map built from the same events. Written as a property over any history, so
    /// that a proptest strategy can drive it as well as the seeded generator below.
    fn check_history(dir: &Path, max_records: u64, steps: &[Step]) -> Result<(), String> {
        let mut source = Source::new();
        let mut model: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        let policy = SnapshotPolicy {
            max_records,
            max_bytes: u64::MAX,
        };
        let reopen = |model: &BTreeMap<ObjectKey, Object>, source: &Source, at: usize| {
            let (log, recovered) =
                StateLog::open_with(dir, policy).map_err(|e| format!("step {at}: {e}"))?;
            let expected: Vec<Object> = model.values().cloned().collect();
            if recovered.objects != expected {
                return Err(format!("step {at}: the objects differ from the model"));
            }
            if recovered.resource_version != source.store.resource_version() {
                return Err(format!(
                    "step {at}: resourceVersion {} instead of {}",
                    recovered.resource_version,
                    source.store.resource_version()
                ));
            }
            if let Some(torn) = recovered.torn_tail {
                return Err(format!("step {at}: a torn tail ({torn}) in a clean log"));
            }
            Ok(log)
        };
        let (mut log, recovered) = StateLog::open_with(dir, policy).map_err(|e| e.to_string())?;
        if !recovered.objects.is_empty() {
            return Err("a new directory holds objects".into());
        }
        for (at, step) in steps.iter().enumerate() {
            for (name, value) in &step.writes {
                let name = format!("cm-{name}");
                match value {
                    Some(v) => source.put(&name, &v.to_string()),
                    None if source
                        .store
                        .get(Kind::ConfigMap, "default", &name)
                        .is_some() =>
                    {
                        source.delete(&name)
                    }
                    None => {}
                }
            }
            let events = source.changes();
            for e in &events {
                let key = ObjectKey::of(&e.object);
                if e.event_type == WatchEventType::Deleted {
                    model.remove(&key);
                } else {
                    model.insert(key, (*e.object).clone());
                }
            }
            log.append(&events).map_err(|e| format!("step {at}: {e}"))?;
            if log.should_snapshot() || step.snapshot {
                log.snapshot(&source.store)
                    .map_err(|e| format!("step {at}: {e}"))?;
            }
            if step.reopen {
                drop(log);
                log = reopen(&model, &source, at)?;
            }
        }
        drop(log);
        reopen(&model, &source, steps.len()).map(drop)
    }

    /// splitmix64: a small seeded generator for the randomized test below.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random puts and deletes, appended in batches of random sizes with snapshots and reopens
    /// at random points: every reopen recovers exactly the model built from the same events.
    /// A failure names its seed.
    #[test]
    fn random_histories_recover_the_model() {
        for seed in 0..40u64 {
            let dir = TestDir::new(&format!("random-{seed}"));
            let mut rng = Rng(seed);
            let max_records = 1 + rng.below(30);
            let steps: Vec<Step> = (0..60)
                .map(|_| Step {
                    writes: (0..1 + rng.below(4))
                        .map(|_| {
                            let name = rng.below(8) as u8;
                            let value = (rng.below(3) != 0).then(|| rng.next());
                            (name, value)
                        })
                        .collect(),
                    snapshot: rng.below(10) == 0,
                    reopen: rng.below(8) == 0,
                })
                .collect();
            if let Err(e) = check_history(&dir.0, max_records, &steps) {
                panic!("seed {seed}: {e}");
            }
        }
    }
}

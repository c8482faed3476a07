//! The event log kept with the state (the audit trail, `core::event`): locally an
//! append-only JSON-lines file beside the state file (`<state>.events.jsonl`, mode 0600);
//! in the S3 backend one object per event under `<key>.events/`, each written once
//! (`If-None-Match: *`) behind the lease's fence, like the journal.
//!
//! Reading takes no lock: a torn last line (a crash mid-append, or an append in flight)
//! and any unreadable line are reported, never fatal. Never holds a secret.

use super::lease::Fence;
use super::object::{Condition, ObjectError};
use super::s3::S3Place;
use super::StoreError;
use crate::adapters::crash;
use crate::adapters::fsutil::{parent_dir, sync_dir};
use crate::core::event::{self, Event};
use crate::core::model::Time;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("cannot append to the event log {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read the event log {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("event log {what}: {message}")]
    Remote { what: String, message: String },
    /// The lock was lost while writing an event.
    #[error(transparent)]
    Store(Box<StoreError>),
}

/// A line or object of the log that could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// `path:line`, or the object's `s3://` URL.
    pub at: String,
    /// The last line of a local log, cut short by a crash mid-append.
    pub torn: bool,
    pub problem: String,
}

/// The events of a log, in storage order, and what could not be read.
#[derive(Debug, Default)]
pub struct Read {
    pub events: Vec<Event>,
    pub unreadable: Vec<Unreadable>,
}

/// The event log of the state's backend (cloned for a write on another thread).
#[derive(Clone)]
pub enum EventLog {
    Local(LocalEvents),
    S3(S3Events),
}

impl EventLog {
    pub fn for_state(state_path: &Path) -> Self {
        EventLog::Local(LocalEvents {
            path: events_path(state_path),
        })
    }

    /// `fence` is `None` for read-only commands: they never append.
    pub fn s3(place: S3Place, fence: Option<Fence>) -> Self {
        EventLog::S3(S3Events { place, fence })
    }

    /// Where the log is, for messages.
    pub fn location(&self) -> String {
        match self {
            EventLog::Local(l) => l.path.display().to_string(),
            EventLog::S3(s) => format!("{}/{}", s.place.objects.location(), s.prefix()),
        }
    }

    /// Appends `event` durably: one whole line and an fsync, or one new object.
    pub fn append(&self, event: &Event) -> Result<(), EventError> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Appends `events` durably, in order: their lines in one write and one fsync, or one
    /// new object each.
    pub fn append_all(&self, events: &[Event]) -> Result<(), EventError> {
        crash::point("before-event-write");
        match self {
            EventLog::Local(l) => l.append(events)?,
            EventLog::S3(s) => events.iter().try_for_each(|e| s.append(e))?,
        }
        crash::point("after-event-write");
        Ok(())
    }

    /// Every event.
    pub fn read(&self) -> Result<Read, EventError> {
        self.read_since(None)
    }

    /// The events written at or after `since` (every event locally, where the whole file
    /// is one read; on S3 only the objects named from `since` on are fetched).
    pub fn read_since(&self, since: Option<Time>) -> Result<Read, EventError> {
        match self {
            EventLog::Local(l) => l.read(),
            EventLog::S3(s) => s.read(since),
        }
    }
}

pub fn events_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".events.jsonl");
    PathBuf::from(name)
}

#[derive(Clone)]
pub struct LocalEvents {
    path: PathBuf,
}

impl LocalEvents {
    fn append(&self, events: &[Event]) -> Result<(), EventError> {
        let err = |source| EventError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = parent_dir(&self.path);
        fs::create_dir_all(dir).map_err(err)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let mut line: String = events.iter().map(Event::to_line).collect();
        // A crash mid-append left a torn line: end it, so this event starts a line of its own.
        let mut last = [0u8; 1];
        if len > 0 && file.read_at(&mut last, len - 1).map_err(err)? == 1 && last[0] != b'\n' {
            line.insert(0, '\n');
        }
        // One write of the whole line: a reader sees all of it or (after a crash) a torn
        // last line, which it reports.
        let written = (&file).write(line.as_bytes()).map_err(err)?;
        if written != line.len() {
            return Err(err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("wrote {written} of {} bytes", line.len()),
            )));
        }
        file.sync_data().map_err(err)?;
        if len == 0 {
            // A new file: its directory entry must survive a crash too.
            sync_dir(dir).map_err(err)?;
        }
        Ok(())
    }

    fn read(&self) -> Result<Read, EventError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::default()),
            Err(source) => {
                return Err(EventError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let parsed = event::parse_log(&String::from_utf8_lossy(&bytes));
        let unreadable = parsed
            .bad
            .into_iter()
            .map(|b| Unreadable {
                at: format!("{}:{}", self.path.display(), b.line),
                torn: b.torn,
                problem: b.problem,
            })
            .collect();
        Ok(Read {
            events: parsed.events,
            unreadable,
        })
    }
}

#[derive(Clone)]
pub struct S3Events {
    place: S3Place,
    fence: Option<Fence>,
}

impl S3Events {
    fn prefix(&self) -> String {
        self.place.events_prefix()
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.place.objects.location())
    }

    /// `<prefix><time>-<run>-<seq>.json`: listing order is time order, and a name is never
    /// written twice.
    fn key_of(&self, event: &Event) -> String {
        format!(
            "{}{}-{}-{:06}.json",
            self.prefix(),
            name_time(event.time),
            event.run_id,
            event.seq
        )
    }

    fn append(&self, event: &Event) -> Result<(), EventError> {
        let key = self.key_of(event);
        let fence = self.fence.as_ref().ok_or_else(|| EventError::Remote {
            what: self.url(&key),
            message: "this command does not hold the lock".into(),
        })?;
        fence.check().map_err(|e| EventError::Store(Box::new(e)))?;
        let body = event.to_line();
        match self
            .place
            .objects
            .put(&key, body.as_bytes(), &Condition::Absent)
        {
            Ok(_) => Ok(()),
            Err(ObjectError::Conflict) => Err(EventError::Remote {
                what: self.url(&key),
                message: "an event object of that name exists already".into(),
            }),
            Err(ObjectError::Failed(message)) => Err(EventError::Remote {
                what: self.url(&key),
                message,
            }),
        }
    }

    fn read(&self, since: Option<Time>) -> Result<Read, EventError> {
        let remote = |what: String, e: ObjectError| EventError::Remote {
            what,
            message: e.to_string(),
        };
        let prefix = self.prefix();
        let keys = self
            .place
            .objects
            .list(&prefix)
            .map_err(|e| remote(self.url(&prefix), e))?;
        let from = since.map(|t| format!("{prefix}{}", name_time(t)));
        let mut read = Read::default();
        for key in keys
            .iter()
            .filter(|k| from.as_ref().is_none_or(|f| *k >= f))
        {
            let Some(object) = self
                .place
                .objects
                .get(key)
                .map_err(|e| remote(self.url(key), e))?
            else {
                continue;
            };
            match event::parse_event(String::from_utf8_lossy(&object.body).trim_end()) {
                Ok(event) => read.events.push(event),
                Err(problem) => read.unreadable.push(Unreadable {
                    at: self.url(key),
                    torn: false,
                    problem,
                }),
            }
        }
        Ok(read)
    }
}

/// A time in an object name: fixed width, so names sort as times do.
fn name_time(t: Time) -> String {
    t.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::lease::Lease;
    use crate::adapters::store::object::{Memory, ObjectStore};
    use crate::core::event::{EventAction, Outcome, Who, FORMAT_VERSION};
    use crate::core::model::{Address, KeyId};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn event(seq: u32, time: &str) -> Event {
        Event {
            format_version: FORMAT_VERSION.into(),
            time: time.parse().unwrap(),
            run_id: "run".into(),
            seq,
            command: "apply".into(),
            address: Some(Address::access_key("a")),
            action: EventAction::Delete,
            key_id: Some(KeyId("AKIAOLD".into())),
            outcome: Outcome::Succeeded,
            message: None,
            step: None,
            clock: None,
            who: Who::default(),
        }
    }

    #[test]
    fn local_appends_are_whole_lines_in_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::for_state(&dir.path().join("state/keyrot.json"));
        log.append(&event(1, "2026-01-01T00:00:00Z")).unwrap();
        log.append(&event(2, "2026-01-01T00:00:01Z")).unwrap();
        let path = dir.path().join("state/keyrot.json.events.jsonl");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let read = log.read().unwrap();
        assert_eq!(read.events.len(), 2);
        assert!(read.unreadable.is_empty());
    }

    #[test]
    fn an_append_after_a_torn_line_starts_a_line_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("keyrot.json");
        let log = EventLog::for_state(&state);
        log.append(&event(1, "2026-01-01T00:00:00Z")).unwrap();
        let line = event(2, "2026-01-01T00:00:01Z").to_line();
        let mut file = OpenOptions::new()
            .append(true)
            .open(events_path(&state))
            .unwrap();
        file.write_all(&line.as_bytes()[..20]).unwrap();
        let read = log.read().unwrap();
        assert_eq!(read.events.len(), 1);
        assert!(read.unreadable[0].torn, "{:?}", read.unreadable);
        assert!(
            read.unreadable[0].at.ends_with(":2"),
            "{:?}",
            read.unreadable
        );
        log.append(&event(3, "2026-01-01T00:00:02Z")).unwrap();
        let read = log.read().unwrap();
        let seqs: Vec<u32> = read.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 3], "the new event is intact");
        assert_eq!(read.unreadable.len(), 1);
        assert!(!read.unreadable[0].torn, "no longer the last line");
    }

    fn s3_log(objects: &Arc<dyn ObjectStore>, lease_ms: u64) -> (Lease, EventLog) {
        let (place, lease) = crate::adapters::store::s3::test_lease(objects, lease_ms);
        let fence = lease.fence();
        (lease, EventLog::s3(place, Some(fence)))
    }

    #[test]
    fn s3_events_are_one_object_each_read_in_time_order_and_since_an_instant() {
        let objects: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let (_lease, log) = s3_log(&objects, 60_000);
        log.append(&event(2, "2026-01-02T00:00:00Z")).unwrap();
        log.append(&event(1, "2026-01-01T00:00:00Z")).unwrap();
        let keys = objects.list("k.json.events/").unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        let seqs: Vec<u32> = log.read().unwrap().events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2], "listing order is time order");
        let since = log
            .read_since(Some("2026-01-01T12:00:00Z".parse().unwrap()))
            .unwrap();
        assert_eq!(since.events.len(), 1);
        assert_eq!(since.events[0].seq, 2);
        // A reader without the lock can read, never write.
        let reader = EventLog::s3(
            S3Place {
                objects: Arc::clone(&objects),
                key: "k.json".into(),
            },
            None,
        );
        assert_eq!(reader.read().unwrap().events.len(), 2);
        assert!(reader.append(&event(3, "2026-01-03T00:00:00Z")).is_err());
    }

    #[test]
    fn a_run_whose_lease_was_broken_cannot_append() {
        let objects: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let (_first, log) = s3_log(&objects, 300);
        let lock = objects.get("k.json.lock").unwrap().unwrap();
        objects.delete("k.json.lock", &lock.etag).unwrap();
        let (_second, _) = s3_log(&objects, 60_000);
        // Past the broken lease's deadline, its renewal finds the lock is another run's.
        std::thread::sleep(std::time::Duration::from_millis(400));
        let err = log.append(&event(1, "2026-01-01T00:00:00Z")).unwrap_err();
        assert!(err.to_string().contains("lost the lock"), "{err}");
        assert!(objects.list("k.json.events/").unwrap().is_empty());
    }
}

//! The store: a typed layer over sled. It owns the on-disk layout of `<data>/store` (one sled tree per
//! kind of record, values as JSON, a schema version key) and the durability rule: callers that
//! acknowledge a write to a client call [`Store::flush`] before replying.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::Transactional;

mod dump;
pub use dump::TreeDump;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Names of the sled trees, one per kind of record.
pub mod trees {
    pub const META: &str = "meta";
    pub const USERS: &str = "users";
    pub const SESSIONS: &str = "sessions";
    pub const TOKENS: &str = "tokens";
    pub const SERVICES: &str = "services";
    pub const SETTINGS: &str = "settings";
    pub const FIREWALL: &str = "firewall";
    pub const AUDIT: &str = "audit";
    /// Notification destinations (`notifications`) and their delivery logs.
    pub const NOTIFICATIONS: &str = "notifications";
    pub const NOTIFICATION_LOG: &str = "notification_log";
    /// Deliveries under way (resumed after a restart).
    pub const NOTIFICATION_OUTBOX: &str = "notification_outbox";
    /// Jails (`jails`: their configuration) and their state (`jail_state`: window counts,
    /// repeat offenders, recent lines).
    pub const JAILS: &str = "jails";
    pub const JAIL_STATE: &str = "jail_state";
    /// Free-form records for tests and tools (e.g. the durability probe).
    pub const RECORDS: &str = "records";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the data store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the data store at {path} has schema version {found}, newer than this Warden understands ({supported})")]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("data store I/O error: {0}")]
    Io(#[from] sled::Error),
    #[error("a stored {tree} record ({key}) cannot be decoded: {source}")]
    Decode {
        tree: String,
        key: String,
        source: serde_json::Error,
    },
    #[error("a {tree} record cannot be encoded: {source}")]
    Encode {
        tree: String,
        source: serde_json::Error,
    },
}

/// How long [`Store::open`] waits for the store's lock before giving up.
pub const STORE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The opened store. Cheap to clone (sled handles are reference counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// sled's page cache budget. Warden's data (users, sessions, services, rules, settings) is small;
/// sled's default budget is 1 GiB.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the store in `dir`. Every failure — unreadable directory, a lock held by another
    /// Warden, corrupt files, a newer schema — is an error naming the path, never a panic. Waits up to
    /// [`STORE_LOCK_WAIT`] for the lock.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let open_err = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        // Probe writability up front: sled reports a read-only directory late and vaguely.
        let probe = dir.join(".warden-write-probe");
        std::fs::write(&probe, b"ok")
            .map_err(|e| open_err(format!("directory is not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::HighThroughput);
        // The store's lock can be held for a moment after the previous Warden was killed: a child it was
        // forking at that instant holds a copy of the file until it execs. Wait a little for it; a lock
        // held longer means another Warden is using this data dir.
        let lock_deadline = std::time::Instant::now() + STORE_LOCK_WAIT;
        let db = loop {
            let attempt = config.clone();
            // sled may panic on some kinds of corruption; turn that into an error too.
            let opened =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || attempt.open()))
                    .map_err(|_| {
                        open_err(
                            "the store files are corrupt (sled panicked while opening them)".into(),
                        )
                    })?;
            match opened {
                Ok(db) => break db,
                // sled reports a held lock as an `Other` I/O error with this text.
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= lock_deadline {
                        return Err(open_err(format!(
                            "it is locked by another process (is another Warden using this data dir?): {e}"
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(open_err(e.to_string())),
            }
        };
        let store = Store { db, path };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree(trees::META)?;
        match meta.get("schema_version")? {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(raw) => {
                let found: u32 = std::str::from_utf8(&raw)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| StoreError::Open {
                        path: self.path.clone(),
                        reason: "the schema version key is unreadable".into(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
        }
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A typed view of one tree.
    pub fn collection<T: Serialize + DeserializeOwned>(
        &self,
        tree: &'static str,
    ) -> Result<Collection<T>, StoreError> {
        Ok(Collection {
            tree: self.db.open_tree(tree)?,
            name: tree,
            _marker: PhantomData,
        })
    }

    /// Makes every write so far durable. Call before acknowledging a write to a client.
    pub async fn flush(&self) -> Result<(), StoreError> {
        // Not `flush_async`: in sled 0.34 concurrent `flush_async` calls deadlock (spacejam/sled#1308,
        // fixed only on sled's unreleased main), which hung Warden with a few hundred services.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| sled::Error::Io(std::io::Error::other(e)))??;
        Ok(())
    }

    /// The next value of the persistent counter `name` (1, 2, 3, ... across restarts; atomic between
    /// concurrent callers). Kept in the meta tree.
    pub fn next_sequence(&self, name: &str) -> Result<u64, StoreError> {
        let meta = self.db.open_tree(trees::META)?;
        let key = format!("seq:{name}");
        let next = meta.update_and_fetch(key.as_bytes(), |old| {
            let current = old
                .and_then(|raw| <[u8; 8]>::try_from(raw).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some(current.saturating_add(1).to_be_bytes().to_vec())
        })?;
        Ok(next
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1))
    }

    /// Blocking variant of [`Store::flush`] for synchronous callers.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Writes to several trees staged to be made durable together by [`Store::commit`]: all of them or
/// none (one sled transaction), then flushed. The domain handles stage their records into one batch
/// (desired-state apply); nothing is written while staging.
#[derive(Default)]
pub struct WriteBatch {
    ops: Vec<(sled::Tree, Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("ops", &self.ops.len())
            .finish()
    }
}

impl WriteBatch {
    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl Store {
    /// Writes everything `batch` staged in one transaction across its trees, then flushes: when this
    /// returns `Ok` every write is durable; on an error none of them happened.
    pub async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let mut trees: Vec<sled::Tree> = Vec::new();
        let mut ops = Vec::with_capacity(batch.ops.len());
        for (tree, key, value) in batch.ops {
            let index = match trees.iter().position(|t| t.name() == tree.name()) {
                Some(i) => i,
                None => {
                    trees.push(tree);
                    trees.len() - 1
                }
            };
            ops.push((index, key, value));
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            use sled::transaction::{ConflictableTransactionError, TransactionError};
            let result = trees.as_slice().transaction(|views| {
                for (index, key, value) in &ops {
                    let Some(view) = views.get(*index) else {
                        return Err(ConflictableTransactionError::Abort(()));
                    };
                    match value {
                        Some(v) => {
                            view.insert(key.as_slice(), v.as_slice())?;
                        }
                        None => {
                            view.remove(key.as_slice())?;
                        }
                    }
                }
                Ok(())
            });
            match result {
                Ok(()) => {}
                Err(TransactionError::Storage(e)) => return Err(e.into()),
                Err(TransactionError::Abort(())) => {
                    return Err(StoreError::Io(sled::Error::Unsupported(
                        "a staged write names an unknown tree".into(),
                    )))
                }
            }
            db.flush()?;
            Ok(())
        })
        .await
        .map_err(|e| sled::Error::Io(std::io::Error::other(e)))??;
        Ok(())
    }
}

/// A tree whose values are `T`, JSON-encoded, keyed by UTF-8 strings.
pub struct Collection<T> {
    tree: sled::Tree,
    name: &'static str,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            tree: self.tree.clone(),
            name: self.name,
            _marker: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("tree", &self.name)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    fn decode(&self, key: &[u8], raw: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(raw).map_err(|source| StoreError::Decode {
            tree: self.name.to_string(),
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            tree: self.name.to_string(),
            source,
        })
    }

    /// Stages an insert (or replacement) into `batch` (see [`Store::commit`]).
    pub fn stage_insert(
        &self,
        batch: &mut WriteBatch,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let raw = self.encode(value)?;
        batch
            .ops
            .push((self.tree.clone(), key.as_bytes().to_vec(), Some(raw)));
        Ok(())
    }

    /// Stages a removal into `batch` (see [`Store::commit`]).
    pub fn stage_remove(&self, batch: &mut WriteBatch, key: &str) {
        batch
            .ops
            .push((self.tree.clone(), key.as_bytes().to_vec(), None));
    }

    pub fn get(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.tree.get(key.as_bytes())? {
            Some(raw) => Ok(Some(self.decode(key.as_bytes(), &raw)?)),
            None => Ok(None),
        }
    }

    /// Inserts or replaces, without reading the previous value back (for large records written
    /// often).
    pub fn put(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let raw = self.encode(value)?;
        self.tree.insert(key.as_bytes(), raw)?;
        Ok(())
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&self, key: &str, value: &T) -> Result<Option<T>, StoreError> {
        let raw = self.encode(value)?;
        match self.tree.insert(key.as_bytes(), raw)? {
            Some(old) => Ok(Some(self.decode(key.as_bytes(), &old)?)),
            None => Ok(None),
        }
    }

    pub fn remove(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.tree.remove(key.as_bytes())? {
            Some(old) => Ok(Some(self.decode(key.as_bytes(), &old)?)),
            None => Ok(None),
        }
    }

    /// All records in key order.
    pub fn list(&self) -> Result<Vec<(String, T)>, StoreError> {
        self.tree
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    self.decode(&k, &v)?,
                ))
            })
            .collect()
    }

    /// The last `limit` records in key order (keys that sort by time give "the newest").
    pub fn last(&self, limit: usize) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.tree.iter().rev().take(limit) {
            let (k, v) = item?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                self.decode(&k, &v)?,
            ));
        }
        out.reverse();
        Ok(out)
    }

    /// The records whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, T)>, StoreError> {
        self.tree
            .scan_prefix(prefix.as_bytes())
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    self.decode(&k, &v)?,
                ))
            })
            .collect()
    }

    /// Removes every record whose key sorts before `key`; returns how many.
    pub fn remove_before(&self, key: &str) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.tree.range(..key.as_bytes()) {
            let (k, _) = item?;
            self.tree.remove(k)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The newest `limit` records, newest first (for keys that sort by time).
    pub fn newest(&self, limit: usize) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.tree.iter().rev().take(limit) {
            let (k, v) = item?;
            out.push(self.decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Every record's stored bytes (its JSON as written), in key order: for format checks such as the
    /// store migration test, which compares what this build writes with what an older one wrote.
    pub fn list_raw(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.tree
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Thing {
        name: String,
        n: u32,
    }

    #[test]
    fn round_trip_and_reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let things = store.collection::<Thing>(trees::RECORDS).unwrap();
            let a = Thing {
                name: "a".into(),
                n: 1,
            };
            assert_eq!(things.insert("a", &a).unwrap(), None);
            assert_eq!(things.get("a").unwrap(), Some(a.clone()));
            things
                .insert(
                    "b",
                    &Thing {
                        name: "b".into(),
                        n: 2,
                    },
                )
                .unwrap();
            assert_eq!(things.remove("b").unwrap().map(|t| t.n), Some(2));
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let things = store.collection::<Thing>(trees::RECORDS).unwrap();
        assert_eq!(
            things.list().unwrap(),
            vec![(
                "a".to_string(),
                Thing {
                    name: "a".into(),
                    n: 1
                }
            )]
        );
    }

    #[tokio::test]
    async fn a_batch_writes_every_tree_or_none() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let a = store.collection::<u32>(trees::RECORDS).unwrap();
            let b = store.collection::<u32>(trees::SETTINGS).unwrap();
            a.insert("gone", &1).unwrap();
            let mut batch = WriteBatch::default();
            a.stage_insert(&mut batch, "x", &7).unwrap();
            b.stage_insert(&mut batch, "y", &8).unwrap();
            a.stage_remove(&mut batch, "gone");
            assert_eq!(
                a.get("x").unwrap(),
                None,
                "nothing is written while staging"
            );
            store.commit(batch).await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let a = store.collection::<u32>(trees::RECORDS).unwrap();
        let b = store.collection::<u32>(trees::SETTINGS).unwrap();
        assert_eq!(a.get("x").unwrap(), Some(7));
        assert_eq!(b.get("y").unwrap(), Some(8));
        assert_eq!(a.get("gone").unwrap(), None);
    }

    #[test]
    fn last_returns_newest_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let c = store.collection::<u32>(trees::AUDIT).unwrap();
        for i in 0..10u32 {
            c.insert(&format!("{i:04}"), &i).unwrap();
        }
        let last: Vec<u32> = c.last(3).unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(last, vec![7, 8, 9]);
    }

    #[test]
    fn undecodable_record_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let raw = store.collection::<String>(trees::RECORDS).unwrap();
        raw.insert("x", &"not a thing".to_string()).unwrap();
        let typed = store.collection::<Thing>(trees::RECORDS).unwrap();
        let err = typed.get("x").unwrap_err();
        assert!(err.to_string().contains("records"), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let meta = store.db.open_tree(trees::META).unwrap();
            meta.insert("schema_version", b"999").unwrap();
            store.flush_blocking().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found: 999, .. }));
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }

    #[test]
    fn open_waits_for_a_lock_held_for_a_moment() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).unwrap();
        let releasing = std::sync::Arc::new(AtomicBool::new(false));
        let flag = releasing.clone();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            flag.store(true, Ordering::SeqCst);
            drop(first);
        });
        // Opened once the first handle lets go, well within STORE_LOCK_WAIT.
        let second = Store::open(dir.path()).unwrap();
        assert!(
            releasing.load(Ordering::SeqCst),
            "opened while the first handle still held the lock"
        );
        holder.join().unwrap();
        drop(second);
    }

    #[test]
    fn unwritable_or_bogus_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        // A path below a regular file can never be created, even by root.
        let bogus = file.join("store");
        let err = Store::open(&bogus).unwrap_err();
        assert!(
            err.to_string().contains(&bogus.display().to_string()),
            "{err}"
        );
    }
}

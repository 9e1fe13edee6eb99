//! Whole-store copies for backups: every tree's raw records out ([`Store::dump`]) and, into a store no
//! Warden is using, back in ([`Store::replace_all`]).

use super::{Store, StoreError};

/// One tree's records as raw bytes (a backup's content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeDump {
    pub name: String,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Store {
    /// Every tree's records except those named in `skip` (and sled's internal default tree). Each
    /// tree is read key by key; callers that need several trees to agree hold the domain locks.
    pub fn dump(&self, skip: &[&str]) -> Result<Vec<TreeDump>, StoreError> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name.starts_with("__sled__") || skip.contains(&name.as_str()) {
                continue;
            }
            let tree = self.db.open_tree(&name)?;
            let entries = tree
                .iter()
                .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<Vec<_>, sled::Error>>()?;
            out.push(TreeDump { name, entries });
        }
        Ok(out)
    }

    /// Replaces every tree's content by `dumps` (trees not in it are emptied), then flushes. For a
    /// store no Warden is using (restore).
    pub fn replace_all(&self, dumps: &[TreeDump]) -> Result<(), StoreError> {
        for name in self.db.tree_names() {
            if name.starts_with(b"__sled__") {
                continue;
            }
            self.db.open_tree(&name)?.clear()?;
        }
        for dump in dumps {
            let tree = self.db.open_tree(&dump.name)?;
            for (key, value) in &dump.entries {
                tree.insert(key.as_slice(), value.as_slice())?;
            }
        }
        self.db.flush()?;
        Ok(())
    }
}

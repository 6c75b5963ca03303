//! The KV namespace in memory: counts reads and fails on demand.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde_json::Value;

use crate::app::store::{KeyValueStore, ListPage};
use crate::error::Error;

/// An in-memory [`KeyValueStore`] for tests: counts reads and can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<BTreeMap<String, (String, Option<Value>)>>,
    reads: Cell<usize>,
    failing: Cell<bool>,
    failing_writes: Cell<bool>,
}

impl MemoryStore {
    /// How many `get` calls reached the store.
    pub fn reads(&self) -> usize {
        self.reads.get()
    }

    /// Makes every later call fail, as an unreachable KV would.
    pub fn fail(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// Makes every later put and delete fail, while reads still work.
    pub fn fail_writes(&self, failing: bool) {
        self.failing_writes.set(failing);
    }

    /// Every stored (name, value, metadata), for tests that inspect storage.
    pub fn dump(&self) -> Vec<(String, String, Option<Value>)> {
        self.entries.borrow().iter().map(|(k, (v, m))| (k.clone(), v.clone(), m.clone())).collect()
    }

    pub fn insert_raw(&self, name: &str, value: &str) {
        self.entries.borrow_mut().insert(name.to_owned(), (value.to_owned(), None));
    }

    fn check_write(&self) -> Result<(), Error> {
        if self.failing_writes.get() {
            return Err(Error::Unavailable("memory store set to fail writes".into()));
        }
        self.check()
    }

    fn check(&self) -> Result<(), Error> {
        if self.failing.get() {
            Err(Error::Unavailable("memory store set to fail".into()))
        } else {
            Ok(())
        }
    }
}

impl KeyValueStore for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        self.reads.set(self.reads.get() + 1);
        self.check()?;
        Ok(self.entries.borrow().get(name).map(|(value, _)| value.clone()))
    }

    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        self.check_write()?;
        self.entries.borrow_mut().insert(name.to_owned(), (value.to_owned(), metadata));
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        self.check_write()?;
        self.entries.borrow_mut().remove(name);
        Ok(())
    }

    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        self.check()?;
        let entries = self.entries.borrow();
        let mut matching = entries
            .iter()
            .filter(|(name, _)| name.starts_with(prefix) && cursor.is_none_or(|after| name.as_str() > after));
        let page: Vec<_> = matching.by_ref().take(limit).map(|(n, (_, m))| (n.clone(), m.clone())).collect();
        let more = matching.next().is_some();
        let cursor = if more { page.last().map(|(name, _)| name.clone()) } else { None };
        Ok(ListPage { entries: page, cursor })
    }
}

//! A project object's SQLite storage in memory: a real SQLite under the same statements.

use crate::project::sql::{Sql, SqlError, SqlValue};

/// An in-memory SQLite, under the same statements as a Durable Object's.
pub struct MemorySql(rusqlite::Connection);

impl MemorySql {
    pub fn new() -> MemorySql {
        MemorySql(rusqlite::Connection::open_in_memory().expect("an in-memory SQLite opens"))
    }
}

impl Default for MemorySql {
    fn default() -> MemorySql {
        MemorySql::new()
    }
}

impl Sql for MemorySql {
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        use rusqlite::types::{Value as Bound, ValueRef};
        let failed = |e: rusqlite::Error| SqlError(format!("{e} in: {query}"));
        let mut statement = self.0.prepare(query).map_err(failed)?;
        let columns = statement.column_count();
        let bound = params.iter().map(|param| match param {
            SqlValue::Null => Bound::Null,
            SqlValue::Int(value) => Bound::Integer(*value),
            SqlValue::Text(value) => Bound::Text(value.clone()),
        });
        let mut rows = statement.query(rusqlite::params_from_iter(bound)).map_err(failed)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let values = (0..columns)
                .map(|index| {
                    Ok(match row.get_ref(index)? {
                        ValueRef::Integer(value) => SqlValue::Int(value),
                        ValueRef::Text(text) => SqlValue::Text(String::from_utf8_lossy(text).into_owned()),
                        ValueRef::Real(value) => SqlValue::Int(value as i64),
                        ValueRef::Null | ValueRef::Blob(_) => SqlValue::Null,
                    })
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()
                .map_err(failed)?;
            out.push(values);
        }
        Ok(out)
    }
}

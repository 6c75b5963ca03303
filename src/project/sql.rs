//! The SQLite a project's object runs on: the Durable Object's own storage
//! in the worker, an in-memory SQLite in native tests, behind one trait so
//! the same statements are tested natively.

/// One SQL value, as keygate stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

/// A failed statement; the message names the statement's first words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError(pub String);

/// Runs statements synchronously, as a Durable Object's SQLite does: the
/// statements of one call, run with no `await` between them, commit together.
pub trait Sql {
    /// Runs `query` with `params` bound to its `?`s in order; the rows, columns in order.
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError>;
}

impl SqlValue {
    pub fn int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(value) => Some(value),
            _ => None,
        }
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> SqlValue {
        SqlValue::Int(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> SqlValue {
        SqlValue::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> SqlValue {
        SqlValue::Text(value)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> SqlValue {
        value.map_or(SqlValue::Null, Into::into)
    }
}

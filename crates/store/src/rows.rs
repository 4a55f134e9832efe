//! Rows as both backends read them: one mapping from a result row's columns to a
//! `NodeRow` or an `EdgeRow` (in `NODE_COLUMNS` and `EDGE_COLUMNS` order).

use super::{EdgeRow, NodeRow};

/// A user's columns, in `UserRow` order (each backend reads them in `accounts`).
pub const USER_COLUMNS: &str = "id, email, password_hash, root_id, fields";
pub const NODE_COLUMNS: &str = "hex, type, owner, ctx, ver, obj";
/// An edge's columns (a node's, read along, start at 8).
pub const EDGE_COLUMNS: &str = "e.seq, e.hex, e.type, e.owner, e.src, e.dst, e.ctx, e.ver";

/// A result row of either backend, read by column index.
pub trait Columns {
    type Error;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
}

/// The node in the six columns from `at` (`NODE_COLUMNS`).
pub fn node_row<R: Columns>(row: &R, at: usize) -> Result<NodeRow, R::Error> {
    Ok(NodeRow {
        hex: row.text(at)?,
        type_name: row.text(at + 1)?,
        object: row.flag(at + 5)?,
        owner: row.text(at + 2)?,
        context: row.text(at + 3)?,
        version: row.int(at + 4)?,
    })
}

/// The edge in the first eight columns (`EDGE_COLUMNS`).
pub fn edge_row<R: Columns>(row: &R) -> Result<EdgeRow, R::Error> {
    Ok(EdgeRow {
        seq: row.int(0)?,
        hex: row.text(1)?,
        type_name: row.text(2)?,
        owner: row.text(3)?,
        source: row.text(4)?,
        target: row.text(5)?,
        context: row.text(6)?,
        version: row.int(7)?,
    })
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }
}

/// PostgreSQL's columns are typed by the schema these queries select from: a mismatch is
/// a bug, and `get` panics on it, so reading never fails here.
impl Columns for tokio_postgres::Row {
    type Error = std::convert::Infallible;

    fn text(&self, index: usize) -> Result<String, Self::Error> {
        Ok(self.get(index))
    }

    fn int(&self, index: usize) -> Result<i64, Self::Error> {
        Ok(self.get(index))
    }

    fn flag(&self, index: usize) -> Result<bool, Self::Error> {
        Ok(self.get(index))
    }
}

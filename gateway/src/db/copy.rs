//! Rows written with binary `COPY … FROM STDIN`, built in one buffer.
//!
//! PostgreSQL fills heap pages many rows at a time from a `COPY` (one WAL record a page, not
//! one a row) and parses no arrays of parameters, so a transaction writing many new rows of a
//! table costs it less than an `INSERT … SELECT FROM UNNEST` of them (bench/README.md). What it
//! cannot do: `ON CONFLICT` and `RETURNING`; a stored key fails it whole, as it fails a plain
//! `INSERT`. The stream is built in one buffer and sent as one message: tokio-postgres'
//! `BinaryCopyInWriter` hands the connection task a message every 4 KB, which cost the gateway
//! ~2 µs a record.

use std::future::Future;

use bytes::{BufMut, BytesMut};
use deadpool_postgres::{Client, GenericClient};
use futures_util::SinkExt;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{CopyInSink, Statement};

/// A connection or transaction that can run `COPY … FROM STDIN` (deadpool's `GenericClient`
/// cannot).
pub trait CopyIn: GenericClient {
    fn copy_in_rows<'a>(
        &'a self,
        statement: &'a Statement,
    ) -> impl Future<Output = Result<CopyInSink<bytes::Bytes>, tokio_postgres::Error>> + Send + 'a;
}

impl CopyIn for Client {
    fn copy_in_rows<'a>(
        &'a self,
        statement: &'a Statement,
    ) -> impl Future<Output = Result<CopyInSink<bytes::Bytes>, tokio_postgres::Error>> + Send + 'a
    {
        self.copy_in(statement)
    }
}

impl CopyIn for deadpool_postgres::Transaction<'_> {
    fn copy_in_rows<'a>(
        &'a self,
        statement: &'a Statement,
    ) -> impl Future<Output = Result<CopyInSink<bytes::Bytes>, tokio_postgres::Error>> + Send + 'a
    {
        self.copy_in(statement)
    }
}

/// The binary format's signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A binary `COPY` stream of rows of `types`.
pub struct Rows<'t> {
    data: BytesMut,
    types: &'t [Type],
}

impl<'t> Rows<'t> {
    /// A stream for about `bytes` of row data.
    pub fn new(types: &'t [Type], bytes: usize) -> Self {
        let mut data = BytesMut::with_capacity(HEADER.len() + bytes + 2);
        data.put_slice(HEADER);
        Rows { data, types }
    }

    /// Append a row: one value per type, in order.
    pub fn push(&mut self, values: &[&(dyn ToSql + Sync)]) -> anyhow::Result<()> {
        anyhow::ensure!(values.len() == self.types.len(), "one value per column");
        self.data.put_i16(i16::try_from(values.len())?);
        for (value, ty) in values.iter().zip(self.types) {
            let at = self.data.len();
            self.data.put_i32(0); // the length, filled in below
            let len = match value
                .to_sql_checked(ty, &mut self.data)
                .map_err(anyhow::Error::from_boxed)?
            {
                IsNull::Yes => -1,
                IsNull::No => i32::try_from(self.data.len() - at - 4)?,
            };
            self.data[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Run `sql` (a `COPY … FROM STDIN (FORMAT binary)`) with the rows; how many it wrote.
    pub async fn send(mut self, db: &impl CopyIn, sql: &str) -> anyhow::Result<u64> {
        self.data.put_i16(-1);
        let stmt = db.prepare_cached(sql).await?;
        let sink = db.copy_in_rows(&stmt).await?;
        let mut sink = std::pin::pin!(sink);
        sink.send(self.data.freeze()).await?;
        Ok(sink.finish().await?)
    }
}

//! The copy engine: one direction of a buffered relay for any `AsyncRead` → `AsyncWrite`.
//!
//! Each worker thread owns one scratch buffer of [`RELAY_BUFFER_SIZE`](super::RELAY_BUFFER_SIZE). A read goes into the
//! scratch and, within the same poll, as much as the writer accepts is written straight from
//! it; only a remainder the writer did not take yet is copied to a heap buffer that lives until
//! it is written. So an idle direction holds no buffer at all, and one in flight holds at most
//! one read's worth (back-pressure: the next read waits for the remainder to be written).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{with_scratch, Dir, Meter, Pump, CHUNKS_PER_POLL};

/// Where a copy pump is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for data (nothing held).
    Reading,
    /// Writing `pending[pos..]`.
    Writing,
    /// Flushing the writer after a chunk.
    Flushing,
    /// Passing the EOF on.
    ShuttingDown,
    /// EOF passed on.
    Done,
}

/// One direction of the copy engine.
pub(crate) struct CopyPump<R, W> {
    reader: R,
    writer: W,
    dir: Dir,
    stage: Stage,
    /// Bytes read but not yet written (empty, unallocated, unless the writer lagged).
    pending: Vec<u8>,
    pos: usize,
    total: u64,
}

impl<R, W> CopyPump<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// A pump from `reader` to `writer`, counting as `dir`.
    pub(crate) fn new(reader: R, writer: W, dir: Dir) -> Self {
        CopyPump {
            reader,
            writer,
            dir,
            stage: Stage::Reading,
            pending: Vec::new(),
            pos: 0,
            total: 0,
        }
    }

    fn wrote(&mut self, meter: &mut Meter<'_>, n: usize) {
        if n > 0 {
            self.total += n as u64;
            meter.wrote(self.dir, n as u64);
        }
    }
}

impl<R, W> Pump for CopyPump<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    fn poll_pump(&mut self, cx: &mut Context<'_>, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        let mut chunks = 0;
        loop {
            match self.stage {
                Stage::Reading => {
                    if chunks == CHUNKS_PER_POLL {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    chunks += 1;
                    let (reader, writer) = (&mut self.reader, &mut self.writer);
                    let step = with_scratch(|scratch| read_and_write(cx, reader, writer, scratch));
                    let step = ready!(step)?;
                    meter.touch();
                    match step {
                        Step::Eof => self.stage = Stage::ShuttingDown,
                        Step::Data { read, rest } => {
                            self.wrote(meter, read - rest.len());
                            if rest.is_empty() {
                                self.stage = Stage::Flushing;
                            } else {
                                self.pending = rest;
                                self.pos = 0;
                                self.stage = Stage::Writing;
                            }
                        }
                    }
                }
                Stage::Writing => {
                    while self.pos < self.pending.len() {
                        let n =
                            ready!(Pin::new(&mut self.writer)
                                .poll_write(cx, &self.pending[self.pos..]))?;
                        if n == 0 {
                            return Poll::Ready(Err(write_zero()));
                        }
                        self.pos += n;
                        self.wrote(meter, n);
                    }
                    self.pending = Vec::new();
                    self.pos = 0;
                    self.stage = Stage::Flushing;
                }
                Stage::Flushing => {
                    ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
                    self.stage = Stage::Reading;
                }
                Stage::ShuttingDown => {
                    ready!(Pin::new(&mut self.writer).poll_shutdown(cx))?;
                    self.stage = Stage::Done;
                }
                Stage::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    fn total(&self) -> u64 {
        self.total
    }
}

fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "relay peer accepted no bytes")
}

/// What one read-and-write step did.
enum Step {
    /// The reader is at EOF.
    Eof,
    /// `read` bytes came in; `rest` are the ones the writer has not taken yet.
    Data { read: usize, rest: Vec<u8> },
}

/// Reads once into `scratch`, then writes as much as `writer` takes right now.
fn read_and_write<R, W>(
    cx: &mut Context<'_>,
    reader: &mut R,
    writer: &mut W,
    scratch: &mut [u8],
) -> Poll<io::Result<Step>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = ReadBuf::new(scratch);
    ready!(Pin::new(&mut *reader).poll_read(cx, &mut buf))?;
    let read = buf.filled().len();
    if read == 0 {
        return Poll::Ready(Ok(Step::Eof));
    }
    let data = &scratch[..read];
    let mut written = 0;
    while written < read {
        match Pin::new(&mut *writer).poll_write(cx, &data[written..]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(write_zero())),
            Poll::Ready(Ok(n)) => written += n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => break,
        }
    }
    Poll::Ready(Ok(Step::Data {
        read,
        rest: data[written..].to_vec(),
    }))
}

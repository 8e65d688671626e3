//! The copy engine: one direction of a buffered relay for any `AsyncRead` → `AsyncWrite`.
//!
//! Each worker thread owns one scratch buffer of [`RELAY_BUFFER_SIZE`]. A read goes into the
//! scratch and, within the same poll, as much as the writer accepts is written straight from
//! it; only a remainder the writer did not take yet is copied to a heap buffer that lives until
//! it is written. So an idle direction holds no buffer at all, and one in flight holds at most
//! one read's worth (back-pressure: the next read waits for the remainder to be written).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{Activity, RELAY_BUFFER_SIZE};

thread_local! {
    /// The worker's read buffer, borrowed only inside one synchronous poll.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RELAY_BUFFER_SIZE].into_boxed_slice());
}

/// What one read-and-write step did.
enum Step {
    /// The reader is at EOF.
    Eof,
    /// `read` bytes came in; `rest` are the ones the writer has not taken yet.
    Data { read: usize, rest: Vec<u8> },
}

/// Copies `reader` to `writer` until EOF (then shuts `writer` down) or an error; returns the
/// bytes written and reports each written chunk to `count`.
pub(super) async fn pump<R, W>(
    mut reader: R,
    mut writer: W,
    activity: &Activity,
    count: impl Fn(u64),
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut total = 0u64;
    loop {
        let step = poll_fn(|cx| {
            SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => read_and_write(cx, &mut reader, &mut writer, &mut scratch),
                // Only when a reader or writer itself runs a relay inside its poll: fall back
                // to a temporary buffer rather than fail.
                Err(_) => {
                    let mut temp = vec![0u8; RELAY_BUFFER_SIZE];
                    read_and_write(cx, &mut reader, &mut writer, &mut temp)
                }
            })
        })
        .await?;
        activity.touch();
        let (read, rest) = match step {
            Step::Eof => {
                writer.shutdown().await?;
                return Ok(total);
            }
            Step::Data { read, rest } => (read, rest),
        };
        let direct = read - rest.len();
        if direct > 0 {
            total += direct as u64;
            count(direct as u64);
        }
        if !rest.is_empty() {
            writer.write_all(&rest).await?;
            activity.touch();
            total += rest.len() as u64;
            count(rest.len() as u64);
        }
        writer.flush().await?;
    }
}

/// Reads once into `scratch`, then writes as much as `writer` takes right now.
fn read_and_write<R, W>(
    cx: &mut std::task::Context<'_>,
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
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "relay peer accepted no bytes",
                )))
            }
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

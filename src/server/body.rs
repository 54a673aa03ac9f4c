//! A response body made of shared chunks: a scrape answers with the snapshot's cached families
//! and its own small tail as two `Bytes`, so the cached text is sent without being copied.
//! Its exact size is known up front, so hyper sends `Content-Length` as it does for `Full`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};

#[derive(Debug, Default)]
pub struct Body {
    /// Never holds an empty chunk, so "no chunks left" is "end of stream".
    chunks: VecDeque<Bytes>,
}

impl Body {
    pub fn empty() -> Self {
        Self::default()
    }

    /// The chunks in order; empty ones are dropped.
    pub fn chunks(parts: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            chunks: parts.into_iter().filter(|b| !b.is_empty()).collect(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self::chunks([b])
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .chunks
                .pop_front()
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::body::Body as _;

    #[tokio::test]
    async fn chunks_arrive_in_order_with_an_exact_size() {
        let b = Body::chunks([
            Bytes::from_static(b"head\n"),
            Bytes::new(),
            Bytes::from_static(b"tail\n"),
        ]);
        assert_eq!(b.size_hint().exact(), Some(10));
        assert!(!b.is_end_stream());
        let got = b.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"head\ntail\n");
        let e = Body::empty();
        assert!(e.is_end_stream() && e.size_hint().exact() == Some(0));
    }
}

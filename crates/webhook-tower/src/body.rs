use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a [`WebhookService`](crate::WebhookService): the inner
    /// service's body, unboxed, or the layer's own early answer.
    #[derive(Debug)]
    pub struct WebhookBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = Projection]
    #[derive(Debug)]
    enum Inner<B> {
        Service { #[pin] body: B },
        Early { bytes: Option<Bytes> },
    }
}

impl<B> WebhookBody<B> {
    pub(crate) fn early(bytes: Bytes) -> Self {
        Self { inner: Inner::Early { bytes: Some(bytes).filter(|b| !b.is_empty()) } }
    }

    pub(crate) fn service(body: B) -> Self {
        Self { inner: Inner::Service { body } }
    }
}

impl<B: Body<Data = Bytes>> Body for WebhookBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().inner.project() {
            Projection::Service { body } => body.poll_frame(cx),
            Projection::Early { bytes } => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Service { body } => body.is_end_stream(),
            Inner::Early { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Service { body } => body.size_hint(),
            Inner::Early { bytes } => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

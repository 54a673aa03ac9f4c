//! What every request passes before routing, cheapest refusal first after authentication:
//! basic auth (401, as the exporter-toolkit does it, except for the health endpoints), a
//! bounded query string (414), the method (405), a cap on concurrent requests to the
//! endpoints that walk the cache (503), and a small, quickly sent request body (413/408).
//! The web config's extra headers go on every answer, refusals included.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::web_config::auth::BasicAuth;
use crate::web_config::reload::{Active, WebState};

use super::body::Body;

type Resp = Response<Body>;

/// Longest accepted query string; `/download_progress` needs a repo reference, not kilobytes.
pub const MAX_QUERY: usize = 2048;
/// Requests are GETs; a body is read and dropped, and must be small and quick.
const MAX_BODY: usize = 64 * 1024;
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes must work without credentials; these answers carry no cache data.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz", "/-/healthy", "/-/ready"];

pub struct Gate {
    web: Option<Arc<WebState>>,
    auth: BasicAuth,
    /// `None` when `--web.max-requests` is 0.
    slots: Option<Arc<Semaphore>>,
}

impl Gate {
    pub fn new(web: Option<Arc<WebState>>, max_requests: usize) -> Self {
        Self {
            web,
            auth: BasicAuth::default(),
            slots: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
        }
    }

    /// The web configuration in force (reloaded if its files changed).
    pub fn active(&self) -> Option<Arc<Active>> {
        self.web.as_ref().map(|w| w.current())
    }

    /// Admit `req` or answer it. `expensive` requests hold one of the slots until the returned
    /// permit drops (when the response is ready). The body is consumed either way.
    pub async fn admit(
        &self,
        req: Request<Incoming>,
        active: Option<&Active>,
        expensive: bool,
    ) -> Result<(Request<()>, Option<OwnedSemaphorePermit>), Resp> {
        let users = active.map(|a| &a.config.users).filter(|u| !u.is_empty());
        if let Some(users) = users {
            let public = PUBLIC_PATHS.contains(&req.uri().path());
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            if !public && !self.auth.check(users, given).await {
                let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"hf-cache-exporter\""),
                );
                return Err(r);
            }
        }
        if req.uri().query().is_some_and(|q| q.len() > MAX_QUERY) {
            return Err(text(StatusCode::URI_TOO_LONG, "query string too long\n"));
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return Err(r);
        }
        let permit = match (&self.slots, expensive) {
            (Some(s), true) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let mut r = text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many concurrent requests, retry shortly\n",
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return Err(r);
                }
            },
            _ => None,
        };
        let (parts, body) = req.into_parts();
        match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
            Ok(Ok(_)) => Ok((Request::from_parts(parts, ()), permit)),
            Ok(Err(_)) => Err(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            )),
            Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n")),
        }
    }
}

/// Add the web config's `http_server_config.headers` to an answer.
pub fn decorate(mut r: Resp, active: Option<&Active>) -> Resp {
    for (k, v) in active.map_or(&[][..], |a| &a.config.headers[..]) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn text(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

//! HTTP: the telemetry path (content-negotiated), `/` landing page, `/healthz`, `/readyz`,
//! `/download_progress` (JSON + CORS) and 404 for the rest. It takes already-bound listeners
//! and a shutdown future, so tests bind `127.0.0.1:0` and stop it deterministically.
//! [`conn`] owns a connection (TLS, HTTP/1 limits); [`gate`] admits requests (auth, limits);
//! [`exposition`] builds the `/metrics` body from families cached per snapshot ([`body`]),
//! gzip-compressed once per snapshot when the scraper accepts it ([`gzip`]).

mod body;
mod conn;
mod exposition;
mod gate;
mod gzip;

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::accept;
use crate::coordinator::Coordinator;
use crate::logging;
use crate::progress_api;
use crate::web_config::reload::WebState;

use body::Body;
use exposition::Exposition;

type Resp = Response<Body>;

/// What every connection task needs.
struct Shared {
    coord: Arc<Coordinator>,
    gate: gate::Gate,
    exposition: Exposition,
}

/// Serve until `shutdown` resolves, then let in-flight requests finish (up to 5 s). With `web`
/// (from `--web.config.file`) connections use TLS and requests basic auth as it says.
pub async fn serve(
    listeners: Vec<TcpListener>,
    coord: Arc<Coordinator>,
    web: Option<Arc<WebState>>,
    shutdown: impl Future<Output = ()>,
) {
    let gate = gate::Gate::new(web, coord.settings().max_requests);
    let exposition = Exposition::new(coord.settings());
    let shared = Arc::new(Shared {
        coord,
        gate,
        exposition,
    });
    let graceful = Arc::new(GracefulShutdown::new());
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let shared = shared.clone();
        let graceful = graceful.clone();
        let mut stop = tx.subscribe();
        tasks.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stop.recv() => return,
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        Err(e) => {
                            // e.g. EMFILE: keep serving, back off a little.
                            logging::warn("accept failed", &[("err", &e)]);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                conn::spawn(stream, shared.clone(), graceful.watcher());
            }
        });
    }
    shutdown.await;
    let _ = tx.send(());
    while tasks.join_next().await.is_some() {}
    if let Ok(g) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(Duration::from_secs(5), g.shutdown()).await;
    }
}

async fn handle(req: Request<Incoming>, shared: &Shared) -> Resp {
    let coord = &shared.coord;
    let path = req.uri().path();
    let expensive = req.method() != Method::OPTIONS
        && (path == coord.settings().telemetry_path || path == "/download_progress");
    let active = shared.gate.active();
    let resp = match shared.gate.admit(req, active.as_deref(), expensive).await {
        // The permit (a `--web.max-requests` slot) is held until the answer is built.
        Ok((req, _permit)) => route(&req, shared).await,
        Err(refusal) => refusal,
    };
    gate::decorate(resp, active.as_deref())
}

async fn route(req: &Request<()>, shared: &Shared) -> Resp {
    let coord = &shared.coord;
    let s = coord.settings();
    let path = req.uri().path();
    let method = req.method().clone();
    let resp = if method == Method::OPTIONS && path != "/download_progress" {
        // Only the CORS endpoint has a preflight; elsewhere OPTIONS must not cost a scan.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        r
    } else if path == s.telemetry_path {
        metrics(req, shared).await
    } else if path == "/download_progress" {
        download_progress(req, coord).await
    } else {
        match path {
            "/" => landing(s),
            "/healthz" | "/-/healthy" => text(StatusCode::OK, "ok\n"),
            "/readyz" | "/-/ready" if coord.is_ready() => text(StatusCode::OK, "ready\n"),
            "/readyz" | "/-/ready" => {
                text(StatusCode::SERVICE_UNAVAILABLE, "first scan not done yet\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    };
    if method == Method::HEAD {
        strip_body(resp)
    } else {
        resp
    }
}

async fn metrics(req: &Request<()>, shared: &Shared) -> Resp {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = accept::negotiate(accept);
    let encodings = req.headers().get(header::ACCEPT_ENCODING);
    let gzip = accept::accepts_gzip(encodings.and_then(|v| v.to_str().ok()));
    let snap = shared.coord.snapshot().await;
    let (body, gzipped) = shared.exposition.body(snap, format, gzip).await;
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

async fn download_progress(req: &Request<()>, coord: &Coordinator) -> Resp {
    let s = coord.settings();
    let origin = HeaderValue::from_str(&s.cors_origin).unwrap_or(HeaderValue::from_static("*"));
    let mut r = if req.method() == Method::OPTIONS {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        match model_name(req.uri().query()) {
            Err(e) => json(StatusCode::BAD_REQUEST, &progress_api::error_json(&e)),
            Ok(name) if name.trim().is_empty() => {
                let totals = coord.root_totals().await;
                json(StatusCode::OK, &progress_api::root_json(&name, &totals))
            }
            Ok(name) => match s.resolve_ref(&name) {
                Err(e) => json(
                    StatusCode::BAD_REQUEST,
                    &progress_api::error_json(&e.to_string()),
                ),
                Ok(r) => {
                    let (report, dl) = coord.repo_state(&r).await;
                    json(
                        StatusCode::OK,
                        &progress_api::repo_json(&name, &report, &dl),
                    )
                }
            },
        }
    };
    r.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

/// The `model_name` query parameter, percent-decoded; bounded so a huge query costs nothing.
fn model_name(query: Option<&str>) -> Result<String, String> {
    let q = query.unwrap_or_default();
    if q.len() > gate::MAX_QUERY {
        return Err("query string too long".into());
    }
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "model_name" {
            return percent_decode(v)
                .ok_or_else(|| "model_name is not valid percent-encoded UTF-8".into());
        }
    }
    Ok(String::new())
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn landing(s: &crate::config::Settings) -> Resp {
    let path = html_escape(&s.telemetry_path);
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>hf-cache-exporter</title></head>\n<body style=\"font-family:sans-serif\">\n\
<h1 style=\"color:#e6522c\">hf-cache-exporter</h1>\n<p>Prometheus exporter for the HuggingFace Hub cache, version {}.</p>\n\
<ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/download_progress\">Download progress (JSON)</a></li>\n\
<li><a href=\"/healthz\">Health</a></li>\n<li><a href=\"/readyz\">Readiness</a></li>\n</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// HEAD: same status and headers as GET, no body.
fn strip_body(r: Resp) -> Resp {
    let (parts, _) = r.into_parts();
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(
            model_name(Some("model_name=org%2Fname")).unwrap(),
            "org/name"
        );
        assert_eq!(model_name(Some("a=1&model_name=gpt2")).unwrap(), "gpt2");
        assert_eq!(model_name(None).unwrap(), "");
        assert!(model_name(Some("model_name=%zz")).is_err());
        assert!(model_name(Some("model_name=%ff")).is_err());
        assert!(model_name(Some(&"x".repeat(5000))).is_err());
    }
}

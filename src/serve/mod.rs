//! `thematic serve`: a local web page over an existing run, to browse,
//! search and correct codes.
//!
//! axum on a tokio runtime, bound to 127.0.0.1 unless told otherwise; pages
//! are server-rendered with maud (every interpolation escaped) and need no
//! JavaScript; the stylesheet is compiled into the binary. Corrections are
//! appended to OUT/overrides.jsonl ([`crate::overrides`]).
//!
//! Safety: every request must carry a Host naming the served address (a
//! page on another site that resolves its name to 127.0.0.1 cannot use this
//! server); state changes are POST only and need an Origin (or Referer) from
//! the served address; bad ids and themes are 404/400 pages, never a panic.

mod pages;
pub mod view;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::classify::ClassifyError;
use crate::codebook::CodebookError;
use crate::overrides::{Action, Override, OverrideError};
use crate::pipeline::{PipelineError, files};
use crate::search::SearchError;
use view::{Filter, RunView};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error(transparent)]
    Overrides(#[from] OverrideError),
    #[error(
        "{addr}: cannot listen: {source}; choose another --port (or --port 0 for any free one)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the web server stopped: {0}")]
    Server(std::io::Error),
    #[error("{0}")]
    Inconsistent(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
}

impl ServeError {
    fn status(&self) -> StatusCode {
        match self {
            ServeError::BadRequest(_) | ServeError::Search(SearchError::Parse(_)) => {
                StatusCode::BAD_REQUEST
            }
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        (status, Html(pages::error(status, &self.to_string()))).into_response()
    }
}

/// What `thematic serve` needs, already validated.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    pub out: PathBuf,
    pub bind: IpAddr,
    /// 0 picks any free port.
    pub port: u16,
    /// Recorded with every correction.
    pub user: String,
}

struct AppState {
    view: RwLock<RunView>,
    user: String,
    /// `host:port` values a request's Host may carry.
    hosts: Vec<String>,
}

impl AppState {
    /// Run `f` on the view, reopening the run first if a `code`, `report`
    /// or `run` replaced it.
    fn read<R>(&self, f: impl FnOnce(&RunView) -> Result<R, ServeError>) -> Result<R, ServeError> {
        let stale = self.view.read().map_err(poisoned)?.is_stale();
        if stale {
            let mut view = self.view.write().map_err(poisoned)?;
            if view.is_stale() {
                *view = RunView::open(&view.out)?;
            }
        }
        f(&*self.view.read().map_err(poisoned)?)
    }

    /// Run `f` on the view for a change, reopening the run first if it was replaced.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut RunView) -> Result<R, ServeError>,
    ) -> Result<R, ServeError> {
        let mut view = self.view.write().map_err(poisoned)?;
        if view.is_stale() {
            *view = RunView::open(&view.out)?;
        }
        f(&mut view)
    }
}

fn poisoned<T>(_: T) -> ServeError {
    ServeError::Server(std::io::Error::other(
        "an earlier request failed while changing the view; restart `thematic serve`",
    ))
}

/// Open the run, bind, print the address, and serve until interrupted.
/// `ready` is called with the bound address once the server accepts requests.
pub fn serve(settings: &ServeSettings, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let view = RunView::open(&settings.out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(ServeError::Server)?;
    runtime.block_on(async {
        let addr = SocketAddr::new(settings.bind, settings.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let bound = listener.local_addr().map_err(ServeError::Server)?;
        let state = Arc::new(AppState {
            view: RwLock::new(view),
            user: settings.user.clone(),
            hosts: allowed_hosts(bound),
        });
        let app = router(state);
        ready(bound);
        axum::serve(listener, app).await.map_err(ServeError::Server)
    })
}

fn allowed_hosts(bound: SocketAddr) -> Vec<String> {
    let port = bound.port();
    let mut hosts = vec![bound.to_string()];
    if bound.ip().is_loopback() {
        for name in ["localhost", "127.0.0.1", "[::1]"] {
            let h = format!("{name}:{port}");
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    hosts
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/responses", get(responses))
        .route("/response", get(response))
        .route("/override", post(correct))
        .route("/report", get(report))
        .route("/assets/app.css", get(stylesheet))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .with_state(state)
}

/// Host check on every request, Origin check on every state change, and
/// headers that keep pages from being framed, sniffed or scripted.
async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = check_request(&state.hosts, req.method(), req.headers()) {
        return e.into_response();
    }
    let is_report = req.uri().path() == "/report";
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let csp = if is_report {
        // report.html is self-contained: inline styles and SVG, no scripts.
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    } else {
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn check_request(hosts: &[String], method: &Method, headers: &HeaderMap) -> Result<(), ServeError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let host = text(header::HOST).unwrap_or_default();
    if !hosts.iter().any(|h| h == host) {
        return Err(ServeError::Forbidden(format!(
            "this server answers only to {}; refused a request for host `{host}`",
            hosts.join(", ")
        )));
    }
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let same_origin = |url: &str| {
        hosts.iter().any(|h| {
            let origin = format!("http://{h}");
            url == origin
                || url
                    .strip_prefix(&origin)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    let ok = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => same_origin(origin),
        (None, Some(referer)) => same_origin(referer),
        (None, None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ServeError::Forbidden(
            "refused: a change must come from this server's own pages (Origin or Referer from the served address)".to_owned(),
        ))
    }
}

async fn not_found() -> ServeError {
    ServeError::NotFound("no such page".to_owned())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::CSS,
    )
}

/// `restricted=1` on any page shows flagged responses' text.
#[derive(Deserialize, Default)]
struct Restricted {
    #[serde(default)]
    restricted: Option<String>,
}

fn is_on(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "on" | "true" | "yes"))
}

async fn dashboard(
    State(state): State<Arc<AppState>>,
    Query(r): Query<Restricted>,
) -> Result<Html<String>, ServeError> {
    let restricted = is_on(r.restricted.as_deref());
    state.read(|view| Ok(Html(pages::dashboard(view, &view.dashboard(), restricted))))
}

async fn responses(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Html<String>, ServeError> {
    let mut filter = Filter {
        page: 1,
        ..Filter::default()
    };
    let mut restricted = false;
    for (key, value) in params {
        let value = value.trim().to_owned();
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "q" => filter.query = Some(value),
            "theme" => filter.theme = Some(value),
            "question" => filter.question = Some(value),
            "page" => {
                filter.page = value.parse().map_err(|_| {
                    ServeError::BadRequest(format!("page `{value}` is not a number"))
                })?
            }
            "restricted" => restricted = is_on(Some(&value)),
            other => match other.strip_prefix("a.") {
                Some(name) => filter.attributes.push((name.to_owned(), value)),
                None => {
                    return Err(ServeError::BadRequest(format!(
                        "unknown parameter `{other}`"
                    )));
                }
            },
        }
    }
    state.read(|view| {
        let page = view.browse(&filter)?;
        Ok(Html(pages::browser(view, &filter, &page, restricted)))
    })
}

#[derive(Deserialize)]
struct ResponseQuery {
    id: String,
    #[serde(default)]
    restricted: Option<String>,
}

async fn response(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ResponseQuery>,
) -> Result<Html<String>, ServeError> {
    let restricted = is_on(q.restricted.as_deref());
    state.read(|view| {
        let units = view.response(&q.id)?.ok_or_else(|| {
            ServeError::NotFound(format!("no response with id `{}` in this run", q.id))
        })?;
        Ok(Html(pages::response(view, &q.id, &units, restricted)))
    })
}

#[derive(Deserialize)]
struct Correction {
    id: String,
    #[serde(default)]
    question: Option<String>,
    theme: String,
    action: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    restricted: Option<String>,
}

async fn correct(
    State(state): State<Arc<AppState>>,
    Form(c): Form<Correction>,
) -> Result<Redirect, ServeError> {
    let action = match c.action.as_str() {
        "add" => Action::Add,
        "remove" => Action::Remove,
        other => {
            return Err(ServeError::BadRequest(format!(
                "action `{other}` is neither `add` nor `remove`"
            )));
        }
    };
    let question = c.question.as_deref().filter(|q| !q.is_empty());
    let correction = Override::now(
        &state.user,
        &c.id,
        question,
        &c.theme,
        action,
        c.reason.as_deref(),
    );
    state.write(|view| view.correct(correction))?;
    let restricted = is_on(c.restricted.as_deref());
    Ok(Redirect::to(&pages::response_href(&c.id, restricted)))
}

async fn report(State(state): State<Arc<AppState>>) -> Result<Html<String>, ServeError> {
    let out = state.view.read().map_err(poisoned)?.out.clone();
    let path = out.join(files::REPORT_HTML);
    std::fs::read_to_string(&path).map(Html).map_err(|e| {
        ServeError::NotFound(format!(
            "{}: cannot read the report ({e}); run `thematic report --out {}`",
            path.display(),
            out.display()
        ))
    })
}

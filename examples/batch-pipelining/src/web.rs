//! The HTTP side: Cap'n Web HTTP batches at `/rpc`, the static `public/` folder on every other
//! path, capnweb's browser build at `/vendor/capnweb.js` (where capnweb's own example page
//! imports it from), and one log line per request on standard output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tether::server::{Endpoint, ServerOptions};

use crate::{ApiClient, Delays, Server};

/// Where the page and capnweb's browser build are read from.
#[derive(Clone, Debug)]
pub struct Files {
    /// The static folder: `PUBLIC_DIR`, by default this crate's `public/`.
    pub public: PathBuf,
    /// capnweb's ESM build: `CAPNWEB_JS`, by default the one `npm ci` installs in `interop/`.
    pub capnweb: PathBuf,
}

impl Files {
    /// The defaults, overridden by `PUBLIC_DIR` and `CAPNWEB_JS`.
    pub fn from_env() -> Files {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let var = |name| std::env::var_os(name).map(PathBuf::from);
        Files {
            public: var("PUBLIC_DIR").unwrap_or_else(|| here.join("public")),
            capnweb: var("CAPNWEB_JS")
                .unwrap_or_else(|| here.join("../../interop/node_modules/capnweb/dist/index.js")),
        }
    }
}

struct App {
    files: Files,
}

/// The whole application: `/rpc` and the static files, with the request log.
///
/// `/rpc` is a tether [`Endpoint`]: HTTP batch `POST`s (and WebSocket sessions too, though this
/// example's clients only batch), each with a fresh [`Server`] as its main object.
pub fn app(delays: Delays, files: Files) -> Router {
    let rpc = Endpoint::new(
        move || ApiClient::serve(Server::new(delays)).into_stub(),
        ServerOptions::default(),
    );
    Router::new()
        .route_service("/rpc", rpc)
        .fallback(static_file)
        .layer(axum::middleware::from_fn(log))
        .with_state(Arc::new(App { files }))
}

/// `METHOD /path STATUS (time)`, one line per request.
async fn log(request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    println!(
        "{line} {} ({} ms)",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

async fn static_file(State(app): State<Arc<App>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").into_response();
    }
    let path = request.uri().path();
    if path == "/vendor/capnweb.js" {
        return match tokio::fs::read(&app.files.capnweb).await {
            Ok(bytes) => file_response("js", bytes),
            Err(error) => (
                StatusCode::NOT_FOUND,
                format!(
                    "capnweb's browser build is not at {} ({error}): run `npm ci` in interop/ \
                     or set CAPNWEB_JS",
                    app.files.capnweb.display()
                ),
            )
                .into_response(),
        };
    }
    let Some(file) = public_path(&app.files.public, path) else {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            file_response(extension, bytes)
        }
        Err(_) => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

/// The file under `public` for a request path, or `None` for a path that would leave it (or
/// reach a hidden file). `/` and `/dir/` mean `index.html`.
fn public_path(public: &Path, path: &str) -> Option<PathBuf> {
    let mut file = public.to_path_buf();
    let relative = path.strip_prefix('/')?;
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains('\\') || segment.contains('%') {
            return None;
        }
        file.push(segment);
    }
    if relative.is_empty() || relative.ends_with('/') {
        file.push("index.html");
    }
    Some(file)
}

fn file_response(extension: &str, bytes: Vec<u8>) -> Response {
    let content_type = match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, content_type)], Body::from(bytes)).into_response()
}

#[cfg(test)]
mod tests {
    use super::public_path;
    use std::path::Path;

    #[test]
    fn paths_stay_inside_the_public_folder() {
        let public = Path::new("/srv/public");
        let ok = |p: &str| public_path(public, p).map(|f| f.display().to_string());
        assert_eq!(ok("/").as_deref(), Some("/srv/public/index.html"));
        assert_eq!(ok("/main.js").as_deref(), Some("/srv/public/main.js"));
        assert_eq!(ok("/a/").as_deref(), Some("/srv/public/a/index.html"));
        assert_eq!(ok("/../secret"), None);
        assert_eq!(ok("/a/../../secret"), None);
        assert_eq!(ok("/.git/config"), None);
        assert_eq!(ok("/%2e%2e/secret"), None);
    }
}

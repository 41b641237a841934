//! `autopmo-bench hello`: a bare axum hello-world, the ceiling of what one
//! core can answer over HTTP/1.1 with the same runtime and server stack.

use std::net::SocketAddr;

/// Serves `GET /` until killed.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("hello listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

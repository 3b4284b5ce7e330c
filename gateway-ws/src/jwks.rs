//! Fetching the token issuer's public keys at start-up.

use std::time::Duration;

use cloudcord_runtime::auth::Jwks;
use tokio_util::sync::CancellationToken;

/// Fetches the JWKS from `url`, retrying every second until it answers or
/// `shutdown` is cancelled (`None`): the gateway cannot verify anyone without it,
/// and the issuer may start after it.
pub async fn fetch(url: &str, shutdown: &CancellationToken) -> Option<Jwks> {
    let client = reqwest::Client::new();
    loop {
        let fetched = async {
            client
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<Jwks>()
                .await
        };
        match fetched.await {
            Ok(jwks) => return Some(jwks),
            Err(error) => {
                tracing::warn!(%url, %error, "cannot fetch the token issuer's JWKS yet; retrying");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

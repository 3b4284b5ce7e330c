//! Fetching the token issuer's public keys at start-up: the services that verify
//! tokens (query-api, gateway-ws) get the JWKS `command-api` publishes, never the key.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::Jwks;

/// Fetches the JWKS from `url`, retrying every second until it answers or
/// `shutdown` is cancelled (`None`): a verifier cannot check anyone without it, and
/// the issuer may start after it.
pub async fn fetch_jwks(url: &str, shutdown: &CancellationToken) -> Option<Jwks> {
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

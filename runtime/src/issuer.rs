//! The token issuer's public keys for the services that verify tokens (query-api,
//! gateway-ws, the SFU): the JWKS `command-api` publishes, never the key — fetched at
//! start-up and kept in step with rotations ([`trusted_keys`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::{Jwks, JwksError, VerifyingKeys};

/// How often [`keep_keys_fresh`] fetches the JWKS again, so a retired key stops
/// verifying within this long.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// The least time between two fetches that a token with an unknown `kid` asks for.
pub const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);

/// Keeps `keys` in step with the JWKS at `url` until `shutdown`: fetched again every
/// [`REFRESH_EVERY`], and at once (at most every [`UNKNOWN_KID_COOLDOWN`]) when a
/// token names a key not in the set — the issuer's new signing key after a rotation,
/// whose first tokens are refused only until then. A failed fetch keeps the keys.
pub async fn keep_keys_fresh(url: String, keys: VerifyingKeys, shutdown: CancellationToken) {
    let client = reqwest::Client::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(REFRESH_EVERY) => {}
            () = keys.unknown_kid_seen() => {}
        }
        match fetch_once(&client, &url).await {
            Ok(jwks) => match keys.replace(&jwks) {
                Ok(()) => tracing::debug!(kids = ?keys.kids(), "token issuer's keys refreshed"),
                Err(error) => {
                    tracing::warn!(%url, %error, "the token issuer's JWKS is unusable; keeping the keys")
                }
            },
            Err(error) => {
                tracing::warn!(%url, %error, "cannot fetch the token issuer's JWKS; keeping the keys")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(UNKNOWN_KID_COOLDOWN) => {}
        }
    }
}

async fn fetch_once(client: &reqwest::Client, url: &str) -> Result<Jwks, reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json::<Jwks>()
        .await
}

/// The keys of the JWKS at `url`, kept fresh until `shutdown` ([`keep_keys_fresh`]):
/// fetched every second until the issuer answers (it may start after us; nothing can
/// be verified without them), `None` if `shutdown` comes first.
pub async fn trusted_keys(
    url: &str,
    shutdown: &CancellationToken,
) -> Option<Result<VerifyingKeys, JwksError>> {
    let jwks = fetch_jwks(url, shutdown).await?;
    Some(VerifyingKeys::from_jwks(&jwks).inspect(|keys| {
        tokio::spawn(keep_keys_fresh(
            url.to_owned(),
            keys.clone(),
            shutdown.clone(),
        ));
    }))
}

async fn fetch_jwks(url: &str, shutdown: &CancellationToken) -> Option<Jwks> {
    let client = reqwest::Client::new();
    loop {
        match fetch_once(&client, url).await {
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio_util::sync::CancellationToken;

    use super::keep_keys_fresh;
    use crate::auth::{Jwks, SigningKey, VerifyingKeys};

    #[tokio::test]
    async fn a_token_from_a_new_key_makes_the_verifier_fetch_the_jwks_again() {
        let old = SigningKey::generate().expect("a key");
        let new = SigningKey::generate().expect("a key");
        let served = Arc::new(Mutex::new(Jwks::from_iter([old.public_jwk()])));
        let serving = Arc::clone(&served);
        let app = Router::new().route(
            "/jwks",
            get(move || {
                let jwks = serving
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}/jwks", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let keys = VerifyingKeys::from_jwks(&served.lock().expect("jwks").clone()).expect("usable");
        let shutdown = CancellationToken::new();
        tokio::spawn(keep_keys_fresh(url, keys.clone(), shutdown.clone()));

        // The issuer rotates: its JWKS publishes the new key beside the old one.
        *served.lock().expect("jwks") = Jwks::from_iter([new.public_jwk(), old.public_jwk()]);
        assert!(keys.decoding_key(new.kid()).is_none(), "not known yet");
        let learnt = tokio::time::timeout(Duration::from_secs(5), async {
            while keys.decoding_key(new.kid()).is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        shutdown.cancel();
        assert!(learnt.is_ok(), "the new key was fetched: {:?}", keys.kids());
        assert!(
            keys.decoding_key(old.kid()).is_some(),
            "the old key still verifies"
        );
    }
}

//! The sign-in and consent page of `/oauth2/authorize`, rendered on the server:
//! plain HTML with a form that posts back to the same path, no script, so it works in
//! any browser and a test can drive it over HTTP.
//!
//! Everything interpolated is HTML-escaped ([`escape`]); the authorization request
//! travels in hidden fields and is validated again when the form comes back (the
//! fields are the browser's, so they are never trusted).

use std::fmt::Write as _;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::oauth::{ClientSettings, Scopes};

/// The authorization-request parameters the form carries back.
pub const CARRIED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// What the page shows.
pub struct SignIn<'a> {
    /// The client asking.
    pub client: &'a ClientSettings,
    /// What it asks for.
    pub scopes: &'a Scopes,
    /// The authorization request's parameters, carried in hidden fields.
    pub carried: Vec<(&'static str, &'a str)>,
    /// The username typed before, when the page is shown again.
    pub login: &'a str,
    /// Why the page is shown again (a wrong password).
    pub error: Option<&'a str>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#313338;color:#dbdee1;\
display:flex;justify-content:center;padding:4rem 1rem}main{background:#2b2d31;border-radius:8px;\
padding:2rem;max-width:26rem;width:100%}h1{font-size:1.3rem;margin-top:0}label{display:block;\
margin:.8rem 0 .3rem;font-size:.8rem;text-transform:uppercase}input[type=text],\
input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:0;border-radius:4px;\
background:#1e1f22;color:inherit}ul{padding-left:1.2rem}.error{color:#fa777c}.actions{display:flex;\
gap:.6rem;margin-top:1.4rem}button{flex:1;padding:.7rem;border:0;border-radius:4px;\
font-size:1rem;cursor:pointer}button[value=authorize]{background:#5865f2;color:#fff}";

impl SignIn<'_> {
    /// The page, with `status` (200, or 401 after a wrong password).
    pub fn render(&self, status: StatusCode) -> Response {
        let mut html = String::with_capacity(4096);
        let name = escape(&self.client.name);
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>Sign in to {name} with CloudCord</title><style>{STYLE}</style></head>\
             <body><main><h1>{name} wants to access your CloudCord account</h1>"
        );
        if self.client.first_party {
            html.push_str("<p>Sign in to continue.</p>");
        } else {
            html.push_str("<p>This will allow the application to:</p><ul>");
            for scope in self.scopes.iter() {
                let _ = write!(html, "<li>{}</li>", escape(scope.describe()));
            }
            html.push_str("</ul>");
        }
        if let Some(error) = self.error {
            let _ = write!(
                html,
                "<p class=\"error\" role=\"alert\">{}</p>",
                escape(error)
            );
        }
        html.push_str("<form method=\"post\" action=\"/oauth2/authorize\">");
        for (field, value) in &self.carried {
            let _ = write!(
                html,
                "<input type=\"hidden\" name=\"{field}\" value=\"{}\">",
                escape(value)
            );
        }
        let _ = write!(
            html,
            "<label for=\"login\">Username</label>\
             <input type=\"text\" id=\"login\" name=\"login\" value=\"{}\" \
             autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" \
             autocomplete=\"current-password\" required>\
             <label for=\"code\">Two-factor code (if enabled)</label>\
             <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\">\
             <div class=\"actions\">\
             <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Cancel</button>\
             <button type=\"submit\" name=\"decision\" value=\"authorize\">Authorize</button>\
             </div></form></main></body></html>",
            escape(self.login)
        );
        with_page_headers((status, Html(html)).into_response())
    }
}

/// An error page for a request that cannot be sent back to the client (unknown
/// client, unregistered `redirect_uri`): RFC 6749 §4.1.2.1 forbids redirecting then.
pub fn error_page(message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Authorization failed</title><style>{STYLE}</style></head>\
         <body><main><h1>Authorization failed</h1><p class=\"error\">{}</p></main></body></html>",
        escape(message)
    );
    with_page_headers((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

/// Pages holding credentials are never cached, framed (clickjacking) or referred
/// to another site. `same-origin`, not `no-referrer`: under `no-referrer` a browser
/// sends `Origin: null` with the page's own form POST, which the origin allowlist
/// (`runtime::origin`) rightly refuses.
fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(
            escape(r#""><script>alert('x')</script>&"#),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}

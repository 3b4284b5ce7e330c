//! The built site's internal links: every relative `href` and `src` of every HTML
//! page mdBook wrote must name a file of the site and, with a `#fragment`, an `id`
//! in that file. External links (with a scheme) are not followed: the build runs
//! offline.
//!
//! It reads mdBook's output rather than the Markdown, so it checks the anchors
//! mdBook actually made (its heading ids), not a guess at its rules. An absolute
//! link is internal when it starts with the path the site is served under (its
//! `site-url`, e.g. `/docs/`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// One broken link: the page, what it links to, and why it is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The page with the link, relative to the site.
    pub page: PathBuf,
    /// The link as written.
    pub link: String,
    /// What is missing.
    pub problem: String,
}

/// Checks every HTML page under `site`, served under the path `base`; returns the
/// broken links, sorted.
pub fn check(site: &Path, base: &str) -> Result<Vec<Broken>, Error> {
    let mut pages = BTreeMap::new();
    collect_html(site, site, &mut pages)?;
    let ids: BTreeMap<&PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|(path, html)| (path, attribute_values(html, "id").into_iter().collect()))
        .collect();
    let mut broken = Vec::new();
    for (page, html) in &pages {
        let mut links = attribute_values(html, "href");
        links.extend(attribute_values(html, "src"));
        for link in links {
            if let Some(problem) = problem(site, base, page, &link, &ids) {
                broken.push(Broken {
                    page: page.clone(),
                    link,
                    problem,
                });
            }
        }
    }
    broken.sort_by(|a, b| (&a.page, &a.link).cmp(&(&b.page, &b.link)));
    broken.dedup();
    Ok(broken)
}

/// What is wrong with one link of `page`, if anything.
fn problem(
    site: &Path,
    base: &str,
    page: &Path,
    link: &str,
    ids: &BTreeMap<&PathBuf, BTreeSet<String>>,
) -> Option<String> {
    if link.is_empty() || link.starts_with("//") || has_scheme(link) {
        return None;
    }
    let (target, fragment) = match link.split_once('#') {
        Some((target, fragment)) => (target, Some(fragment)),
        None => (link, None),
    };
    let target = target.split('?').next().unwrap_or_default();
    let resolved = if target.is_empty() {
        page.to_owned()
    } else {
        let joined = match target.strip_prefix(base) {
            Some(from_root) => PathBuf::from(from_root),
            None => page.parent().unwrap_or(Path::new("")).join(target),
        };
        match normalize(&joined) {
            Some(path) => path,
            None => return Some("leaves the site".to_owned()),
        }
    };
    // A directory link means its index page, as a web server serves it.
    let resolved = if site.join(&resolved).is_dir() {
        resolved.join("index.html")
    } else {
        resolved
    };
    if !site.join(&resolved).exists() {
        return Some(format!("{} does not exist", resolved.display()));
    }
    match (fragment, ids.get(&resolved)) {
        (Some(fragment), Some(known)) if !fragment.is_empty() && !known.contains(fragment) => {
            Some(format!("{} has no id `{fragment}`", resolved.display()))
        }
        _ => None,
    }
}

/// `https:`, `mailto:`, `data:` …: a scheme is letters (and `+-.`) before a colon
/// that comes before any slash.
fn has_scheme(link: &str) -> bool {
    match link.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// Resolves `.` and `..` without touching the file system; `None` above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn collect_html(
    site: &Path,
    dir: &Path,
    into: &mut BTreeMap<PathBuf, String>,
) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            collect_html(site, &path, into)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "html")
        {
            let html = fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let relative = path.strip_prefix(site).unwrap_or(&path).to_owned();
            into.insert(relative, html);
        }
    }
    Ok(())
}

/// The values of every `name="…"` attribute in an HTML text, entity `&amp;` and
/// percent escapes decoded. mdBook quotes every attribute with double quotes.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    html.match_indices(needle.as_str())
        .filter_map(|(start, _)| {
            let rest = &html[start + needle.len()..];
            rest.find('"').map(|end| decode(&rest[..end]))
        })
        .collect()
}

fn decode(value: &str) -> String {
    let value = value.replace("&amp;", "&").replace("&quot;", "\"");
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(pages: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cloudcord-docs-links-{}-{}",
            std::process::id(),
            pages.len()
        ));
        let _ = fs::remove_dir_all(&dir);
        for (path, html) in pages {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().expect("a page is in a directory"))
                .expect("create the test site");
            fs::write(path, html).expect("write a test page");
        }
        dir
    }

    #[test]
    fn a_missing_page_and_a_missing_anchor_are_reported_and_the_rest_is_not() {
        let dir = site(&[
            (
                "a.html",
                r##"<a href="b/c.html#here">ok</a> <a href="b/c.html#gone">x</a>
                    <a href="missing.html">x</a> <a href="https://example.test/">ext</a>
                    <img src="../outside.png"> <a href="#top">self</a><h1 id="top">"##,
            ),
            (
                "b/c.html",
                r#"<h2 id="here">Here</h2><a href="../a.html?x=1">up</a> <a href="/docs/b/">b</a>
                   <a href="/elsewhere/a.html">x</a>"#,
            ),
            ("b/index.html", ""),
        ]);
        let broken = check(&dir, "/docs/").expect("the test site is readable");
        let reported: Vec<(String, &str)> = broken
            .iter()
            .map(|b| (b.page.display().to_string(), b.link.as_str()))
            .collect();
        assert_eq!(
            reported,
            [
                ("a.html".to_owned(), "../outside.png"),
                ("a.html".to_owned(), "b/c.html#gone"),
                ("a.html".to_owned(), "missing.html"),
                ("b/c.html".to_owned(), "/elsewhere/a.html"),
            ]
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn escapes_in_links_are_decoded() {
        assert_eq!(decode("a%20b&amp;c"), "a b&c");
        assert!(has_scheme("mailto:x@example.test"));
        assert!(!has_scheme("page.html#a:b"));
    }
}

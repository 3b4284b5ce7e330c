//! Every alert links to its runbook section: a `## <AlertName>` heading of
//! `docs/src/operations/runbooks.md` (mdBook gives it the anchor
//! `#<alertname>`, lowercased).

use std::fs;

use crate::root;

/// Where the Prometheus rules live (packaged by the Helm chart).
const RULES: &str = "k8s/cloudcord/files/alerts.yaml";
const RUNBOOKS: &str = "docs/src/operations/runbooks.md";

/// The alert names of a rule file: its `- alert: Name` lines (one rule file, so a
/// line scan is enough; promtool checks the file itself).
fn alert_names(rules: &str) -> Vec<&str> {
    rules
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- alert:"))
        .map(str::trim)
        .collect()
}

#[test]
fn every_alert_has_a_runbook_section() {
    let rules = fs::read_to_string(root().join(RULES)).expect("the alert rules are readable");
    let runbooks = fs::read_to_string(root().join(RUNBOOKS)).expect("the runbooks are readable");
    let headings: Vec<&str> = runbooks
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::trim)
        .collect();
    let alerts = alert_names(&rules);
    assert!(!alerts.is_empty(), "{RULES} has no alerts: has it moved?");
    let missing: Vec<&&str> = alerts
        .iter()
        .filter(|alert| !headings.contains(alert))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts without a `## <AlertName>` section in {RUNBOOKS}: {missing:?}"
    );
    let unknown: Vec<&&str> = headings
        .iter()
        .filter(|heading| heading.chars().all(char::is_alphanumeric) && !alerts.contains(heading))
        .collect();
    assert!(
        unknown.is_empty(),
        "runbook sections for alerts {RULES} does not have (renamed or removed?): {unknown:?}"
    );
}

#[test]
fn alert_names_are_read_from_rule_lines() {
    let rules = "groups:\n  - name: g\n    rules:\n      - record: r\n      - alert: A\n        for: 1m\n      - alert: B\n";
    assert_eq!(alert_names(rules), ["A", "B"]);
}

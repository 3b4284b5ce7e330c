//! [`Presences`]: what every user looks like to others, from the presence reports
//! of every gateway process (see [`cloudcord_schemas::ephemeral::PresenceReport`]).
//!
//! A user with several sessions — on this process or others — shows the presence
//! of the session that changed last, as a status set on one device shows on all;
//! `invisible` shows as offline; with no session left, the user is offline. A
//! session's entry lives as long as its process keeps reporting it: a process that
//! died without a word stops refreshing its sessions and they expire. Pure: the
//! caller passes the clock.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cloudcord_schemas::ephemeral::{PresenceReport, Status};
use cloudcord_schemas::ids::UserId;
use serde_json::{Value, json};

/// How long a session's presence stands without a report (a little more than two
/// report intervals, so one lost report costs nothing).
pub const PRESENCE_TTL: Duration = Duration::from_secs(75);

/// What others see of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Visible {
    /// `online`, `idle` or `dnd` (offline users have no `Visible`).
    pub status: Status,
    /// The activities of the deciding session.
    pub activities: Vec<Value>,
}

impl Visible {
    /// Discord's presence object of `user` (PRESENCE_UPDATE's `d` without
    /// `guild_id`, and GUILD_CREATE's `presences` entries). `None` is offline.
    pub fn object(user: UserId, visible: Option<&Self>) -> Value {
        let (status, activities) = visible.map_or(("offline", &[][..]), |visible| {
            (visible.status.as_str(), &visible.activities[..])
        });
        let client_status = if visible.is_some() {
            json!({ "web": status })
        } else {
            json!({})
        };
        json!({
            "user": { "id": user },
            "status": status,
            "activities": activities,
            "client_status": client_status,
        })
    }
}

#[derive(Debug)]
struct Entry {
    user: UserId,
    status: Status,
    activities: Vec<Value>,
    changed_at_ms: i64,
    reported: Instant,
}

/// Every known session's presence.
#[derive(Debug, Default)]
pub struct Presences {
    sessions: HashMap<String, Entry>,
    by_user: HashMap<UserId, HashSet<String>>,
}

impl Presences {
    /// What others see of `user` (`None`: offline).
    pub fn visible(&self, user: UserId) -> Option<Visible> {
        let deciding = self
            .by_user
            .get(&user)?
            .iter()
            .filter_map(|id| self.sessions.get(id))
            .max_by_key(|entry| entry.changed_at_ms)?;
        match deciding.status {
            Status::Invisible | Status::Offline => None,
            status => Some(Visible {
                status,
                activities: deciding.activities.clone(),
            }),
        }
    }

    /// Whether `user` has any session reported, whatever its status (invisible
    /// included).
    pub fn has_session(&self, user: UserId) -> bool {
        self.by_user.contains_key(&user)
    }

    /// Applies `report`, received at `now`; returns the users whose visible
    /// presence changed.
    pub fn apply(&mut self, report: &PresenceReport, now: Instant) -> Vec<UserId> {
        let users: HashSet<UserId> = report.sessions.iter().map(|s| s.user_id).collect();
        let before: Vec<(UserId, Option<Visible>)> = users
            .iter()
            .map(|user| (*user, self.visible(*user)))
            .collect();
        for session in &report.sessions {
            if session.status == Status::Offline {
                self.remove(&session.session_id);
                continue;
            }
            if let Some(old) = self.sessions.get(&session.session_id)
                && old.user != session.user_id
            {
                self.remove(&session.session_id);
            }
            self.by_user
                .entry(session.user_id)
                .or_default()
                .insert(session.session_id.clone());
            self.sessions.insert(
                session.session_id.clone(),
                Entry {
                    user: session.user_id,
                    status: session.status,
                    activities: session.activities.clone(),
                    changed_at_ms: session.changed_at_ms,
                    reported: now,
                },
            );
        }
        self.changed(before)
    }

    /// Drops the sessions not reported for [`PRESENCE_TTL`] at `now`; returns the
    /// users whose visible presence changed.
    pub fn expire(&mut self, now: Instant) -> Vec<UserId> {
        let stale: Vec<(String, UserId)> = self
            .sessions
            .iter()
            .filter(|(_, entry)| now.duration_since(entry.reported) >= PRESENCE_TTL)
            .map(|(id, entry)| (id.clone(), entry.user))
            .collect();
        let users: HashSet<UserId> = stale.iter().map(|(_, user)| *user).collect();
        let before: Vec<(UserId, Option<Visible>)> = users
            .iter()
            .map(|user| (*user, self.visible(*user)))
            .collect();
        for (id, _) in &stale {
            self.remove(id);
        }
        self.changed(before)
    }

    fn changed(&self, before: Vec<(UserId, Option<Visible>)>) -> Vec<UserId> {
        before
            .into_iter()
            .filter(|(user, visible)| self.visible(*user) != *visible)
            .map(|(user, _)| user)
            .collect()
    }

    fn remove(&mut self, session_id: &str) {
        let Some(entry) = self.sessions.remove(session_id) else {
            return;
        };
        if let Some(ids) = self.by_user.get_mut(&entry.user) {
            ids.remove(session_id);
            if ids.is_empty() {
                self.by_user.remove(&entry.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use cloudcord_schemas::ephemeral::{PresenceReport, SessionPresence, Status};
    use cloudcord_schemas::ids::UserId;
    use serde_json::json;

    use super::{PRESENCE_TTL, Presences, Visible};

    const ALICE: UserId = UserId::new(1);

    fn report(session: &str, status: Status, changed_at_ms: i64) -> PresenceReport {
        PresenceReport {
            process: "p".to_owned(),
            sessions: vec![SessionPresence {
                session_id: session.to_owned(),
                user_id: ALICE,
                status,
                activities: Vec::new(),
                changed_at_ms,
            }],
        }
    }

    fn status(presences: &Presences) -> Option<Status> {
        presences.visible(ALICE).map(|visible| visible.status)
    }

    #[test]
    fn the_session_that_changed_last_decides_and_invisible_is_offline() {
        let now = Instant::now();
        let mut presences = Presences::default();
        assert_eq!(
            presences.apply(&report("phone", Status::Online, 1), now),
            [ALICE]
        );
        assert_eq!(
            presences.apply(&report("desk", Status::Dnd, 2), now),
            [ALICE]
        );
        assert_eq!(status(&presences), Some(Status::Dnd));
        // A periodic report of the older session changes nothing.
        assert!(
            presences
                .apply(&report("phone", Status::Online, 1), now)
                .is_empty()
        );
        assert_eq!(
            presences.apply(&report("phone", Status::Invisible, 3), now),
            [ALICE]
        );
        assert_eq!(status(&presences), None);
        // The invisible session ends: the other one decides again.
        presences.apply(&report("phone", Status::Offline, 4), now);
        assert_eq!(status(&presences), Some(Status::Dnd));
        presences.apply(&report("desk", Status::Offline, 5), now);
        assert_eq!(status(&presences), None);
    }

    #[test]
    fn sessions_no_process_reports_any_more_expire() {
        let start = Instant::now();
        let mut presences = Presences::default();
        presences.apply(&report("a", Status::Idle, 1), start);
        assert!(presences.expire(start + Duration::from_secs(10)).is_empty());
        assert_eq!(presences.expire(start + PRESENCE_TTL), [ALICE]);
        assert_eq!(status(&presences), None);
    }

    #[test]
    fn presence_objects_have_discords_shape() {
        let visible = Visible {
            status: Status::Idle,
            activities: vec![json!({"name": "chess", "type": 0})],
        };
        assert_eq!(
            Visible::object(ALICE, Some(&visible)),
            json!({
                "user": {"id": "1"},
                "status": "idle",
                "activities": [{"name": "chess", "type": 0}],
                "client_status": {"web": "idle"},
            })
        );
        assert_eq!(Visible::object(ALICE, None)["status"], "offline");
    }
}

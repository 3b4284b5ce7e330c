//! [`Sight`]: CHANNEL_CREATE and CHANNEL_DELETE for a member whose view of the
//! guild's channels changed although no channel did — their roles changed, a
//! role's permissions changed, a role they held was deleted, or the guild changed
//! owner. Clients list only the channels they were sent (GUILD_CREATE has the
//! visible ones), so a channel that becomes visible must arrive, and one that
//! becomes hidden must go. A channel's own overwrites are handled with its
//! CHANNEL_UPDATE in [`crate::dispatches`].
//!
//! Only users with sessions following the guild here are looked at, and only
//! those the event can affect (a role's change, only its holders; `@everyone`'s,
//! everyone): the cost is one permission check per such user and channel, under
//! the routing lock, for events that are rare (`examples/sight_bench.rs` measures
//! it; BENCHMARKS.md has the numbers).

use std::collections::{BTreeSet, HashMap};

use cloudcord_schemas::guild::{GuildEvent, GuildUpdated};
use cloudcord_schemas::ids::{ChannelId, RoleId, UserId};

use crate::dispatches;
use crate::guild_state::GuildState;
use crate::protocol::dispatch::{Dispatch, Scope};
use crate::protocol::intents::Intents;

/// The channels some users saw before an event.
#[derive(Debug)]
pub struct Sight {
    seen: Vec<(UserId, BTreeSet<ChannelId>)>,
}

impl Sight {
    /// What those of `users` whom `event` can affect see before it, when it can
    /// change what they see without changing a channel; `None` otherwise.
    pub fn before(
        state: &GuildState,
        event: &GuildEvent,
        users: impl IntoIterator<Item = UserId>,
    ) -> Option<Self> {
        let affected: Box<dyn Fn(&UserId) -> bool + '_> = match event {
            GuildEvent::MemberUpdated(e) => Box::new(move |user| *user == e.user_id),
            GuildEvent::RoleUpdated(e) => {
                // A role's name or colour changes nothing anyone sees.
                if state
                    .roles
                    .get(&e.role.id)
                    .is_some_and(|old| old.permissions == e.role.permissions)
                {
                    return None;
                }
                Box::new(move |user| holds(state, *user, e.role.id))
            }
            GuildEvent::RoleDeleted(e) => Box::new(move |user| holds(state, *user, e.role_id)),
            GuildEvent::GuildUpdated(GuildUpdated {
                owner_id: Some(owner),
                ..
            }) => Box::new(move |user| *user == *owner || *user == state.owner_id),
            _ => return None,
        };
        let users: BTreeSet<UserId> = users.into_iter().filter(affected).collect();
        Some(Self {
            seen: users
                .into_iter()
                .map(|user| (user, visible(state, user)))
                .collect(),
        })
    }

    /// For each user, CHANNEL_CREATE for every channel they see now and did not,
    /// and CHANNEL_DELETE for every one they no longer see. Each channel's
    /// dispatch is made once and shared by everyone it goes to.
    pub fn changes(self, state: &GuildState) -> HashMap<UserId, Vec<Dispatch>> {
        let mut made: HashMap<(&'static str, ChannelId), Dispatch> = HashMap::new();
        let mut changes: HashMap<UserId, Vec<Dispatch>> = HashMap::new();
        for (user, before) in self.seen {
            let after = visible(state, user);
            let gained = after.difference(&before).map(|id| ("CHANNEL_CREATE", *id));
            let lost = before.difference(&after).map(|id| ("CHANNEL_DELETE", *id));
            for (event, id) in gained.chain(lost) {
                let Some(channel) = state.channels.get(&id) else {
                    continue;
                };
                let dispatch = made.entry((event, id)).or_insert_with(|| {
                    dispatches::dispatch(
                        event,
                        &state.channel_object(channel),
                        Scope::Guild(state.id),
                        Intents::GUILDS,
                    )
                });
                changes.entry(user).or_default().push(dispatch.clone());
            }
        }
        changes
    }
}

/// Whether `user` holds `role`: every member holds `@everyone` (the guild's id).
fn holds(state: &GuildState, user: UserId, role: RoleId) -> bool {
    state
        .members
        .get(&user)
        .is_some_and(|member| role == state.id.everyone_role() || member.roles.contains(&role))
}

/// The channels `user` may view.
fn visible(state: &GuildState, user: UserId) -> BTreeSet<ChannelId> {
    state
        .channels
        .keys()
        .copied()
        .filter(|channel| state.can_view(user, *channel))
        .collect()
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{GuildEvent, GuildUpdated, MemberUpdated, Role, RoleUpdated};
    use cloudcord_schemas::ids::ChannelId;
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};

    use super::Sight;
    use crate::guild_state::GuildState;
    use crate::guild_state::tests::{ALICE, BOB, MODS, OWNER, channel, guild};

    /// The guild with channel 11 hidden from `@everyone`.
    fn with_hidden_channel() -> GuildState {
        let mut state = guild();
        let mut hidden = channel(11);
        hidden.permission_overwrites = vec![PermissionOverwrite::role(
            state.id.everyone_role(),
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        state.channels.insert(hidden.id, hidden);
        state
    }

    /// Applies `event` as routing does and names each change: (event, channel, user).
    fn changes(state: &mut GuildState, event: &GuildEvent) -> Vec<(&'static str, ChannelId, u64)> {
        let followers = [OWNER, ALICE, BOB];
        let sight = Sight::before(state, event, followers).expect("an event that may change sight");
        state.apply(state.position + 1, event);
        let mut named: Vec<_> = sight
            .changes(state)
            .into_iter()
            .flat_map(|(user, dispatches)| {
                dispatches.into_iter().map(move |dispatch| {
                    let data: serde_json::Value =
                        serde_json::from_str(&dispatch.data).expect("JSON");
                    let channel = data["id"]
                        .as_str()
                        .expect("an id")
                        .parse()
                        .expect("a number");
                    (dispatch.event, ChannelId::new(channel), user.get())
                })
            })
            .collect();
        named.sort_unstable();
        named
    }

    #[test]
    fn a_new_owner_comes_to_see_what_the_old_one_stops_seeing() {
        let mut state = with_hidden_channel();
        let handed_over = GuildEvent::GuildUpdated(GuildUpdated {
            owner_id: Some(ALICE),
            ..GuildUpdated::default()
        });

        assert_eq!(
            changes(&mut state, &handed_over),
            [
                ("CHANNEL_CREATE", ChannelId::new(11), ALICE.get()),
                ("CHANNEL_DELETE", ChannelId::new(11), OWNER.get()),
            ]
        );
    }

    #[test]
    fn events_that_cannot_change_sight_look_at_nobody() {
        let state = with_hidden_channel();
        let renamed = GuildEvent::GuildUpdated(GuildUpdated {
            name: Some("renamed".into()),
            ..GuildUpdated::default()
        });
        let nick = GuildEvent::MemberUpdated(MemberUpdated {
            user_id: BOB,
            nick: Some("b".into()),
            roles: Vec::new(),
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        });

        let mods_may_kick = GuildEvent::RoleUpdated(RoleUpdated {
            role: Role {
                permissions: Permissions::KICK_MEMBERS,
                ..state.roles[&MODS].clone()
            },
        });

        assert!(Sight::before(&state, &renamed, [OWNER, ALICE]).is_none());
        let sight = Sight::before(&state, &mods_may_kick, [OWNER, ALICE, BOB]).expect("a role");
        assert!(sight.seen.is_empty(), "nobody holds the role");
        let sight = Sight::before(&state, &nick, [OWNER, ALICE, BOB]).expect("a member update");
        assert_eq!(sight.seen.len(), 1, "only BOB is looked at");
    }
}

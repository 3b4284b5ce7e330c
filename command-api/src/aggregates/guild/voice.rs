//! Voice states: joining, moving within, and leaving voice channels, self mute and
//! deafen. (Server mute, deafen and moves are member edits: see [`super::members`].)
//!
//! Rules (Discord's `voice.mdx` and `permissions.mdx`):
//! * Only voice channels can be joined (50024); joining needs `VIEW_CHANNEL` (50001)
//!   and `CONNECT` (50013) — timed-out members lose `CONNECT`.
//! * A channel with a `user_limit` above 0 that is full refuses members without
//!   `MOVE_MEMBERS` in it (Discord lets movers exceed the limit).
//! * Members without `SPEAK` are connected `suppress`ed; server mute and deafen set by
//!   moderators carry into every connection.
//! * A join's answer also says whether the member has `STREAM` in the channel
//!   (CloudCord's `may_stream`, beside the voice state object): the media token
//!   carries it to the SFU, which forwards no screen share without it.

use cloudcord_schemas::guild::{ChannelType, VoiceState, VoiceStateUpdated};
use cloudcord_schemas::ids::{ChannelId, UserId};
use cloudcord_schemas::permissions::Permissions;
use serde_json::Value;

use super::{Ctx, Decided, Guild, GuildError, Reply};

impl Guild {
    /// Whether `user` may speak in `channel`.
    pub(super) fn member_can_speak(&self, user: UserId, channel: ChannelId, ctx: &Ctx) -> bool {
        self.channel_permissions(user, channel, ctx.at)
            .contains(Permissions::SPEAK)
    }

    /// How many members other than `except` are connected to `channel`.
    fn connected(&self, channel: ChannelId, except: UserId) -> usize {
        self.voice
            .values()
            .filter(|s| s.channel_id == Some(channel) && s.user_id != except)
            .count()
    }

    pub(super) fn update_voice_state(
        &self,
        ctx: &Ctx,
        channel_id: Option<ChannelId>,
        self_mute: bool,
        self_deaf: bool,
        session_id: Option<String>,
    ) -> Result<Decided, GuildError> {
        let (_, member) = self.actor_member(ctx)?;
        let current = self.voice.get(&ctx.actor);
        let Some(channel_id) = channel_id else {
            return Ok(match current {
                Some(state) if state.channel_id.is_some() => Decided::event(VoiceStateUpdated {
                    state: VoiceState {
                        channel_id: None,
                        self_mute,
                        self_deaf,
                        ..state.clone()
                    },
                }),
                _ => Decided::nothing().reply(Reply::NoContent),
            });
        };
        let channel = self.channel(channel_id)?;
        let granted = self.channel_permissions(ctx.actor, channel_id, ctx.at);
        if !granted.contains(Permissions::VIEW_CHANNEL) {
            return Err(GuildError::MissingAccess);
        }
        if channel.kind != ChannelType::GuildVoice {
            return Err(GuildError::WrongChannelType);
        }
        if !granted.contains(Permissions::CONNECT) {
            return Err(GuildError::MissingPermissions);
        }
        let joining = current.and_then(|s| s.channel_id) != Some(channel_id);
        let limit = channel.user_limit.unwrap_or(0);
        if joining
            && limit > 0
            && self.connected(channel_id, ctx.actor) >= usize::try_from(limit).unwrap_or(usize::MAX)
            && !granted.contains(Permissions::MOVE_MEMBERS)
        {
            return Err(GuildError::ChannelFull);
        }
        let state = VoiceState {
            user_id: ctx.actor,
            channel_id: Some(channel_id),
            session_id: session_id.or_else(|| current.and_then(|s| s.session_id.clone())),
            deaf: member.deaf,
            mute: member.mute,
            self_deaf,
            self_mute,
            suppress: !granted.contains(Permissions::SPEAK),
        };
        let mut answer = self.voice_state_object(&state);
        answer["may_stream"] = Value::Bool(granted.contains(Permissions::STREAM));
        let reply = Reply::Body(200, answer);
        if current == Some(&state) {
            return Ok(Decided::nothing().reply(reply));
        }
        Ok(Decided::event(VoiceStateUpdated { state }).reply(reply))
    }

    /// The SFU lost the actor's connection to `channel_id`. Only a voice state still
    /// in that channel is cleared: a member who moved on (or rejoined elsewhere) after
    /// the lost connection was opened keeps their current state.
    pub(super) fn drop_voice_connection(
        &self,
        ctx: &Ctx,
        channel_id: ChannelId,
    ) -> Result<Decided, GuildError> {
        self.actor_member(ctx)?;
        Ok(match self.voice.get(&ctx.actor) {
            Some(state) if state.channel_id == Some(channel_id) => {
                Decided::event(VoiceStateUpdated {
                    state: VoiceState {
                        channel_id: None,
                        ..state.clone()
                    },
                })
            }
            _ => Decided::nothing().reply(Reply::NoContent),
        })
    }

    pub(super) fn on_voice_state_updated(&mut self, event: VoiceStateUpdated) {
        let state = event.state;
        if state.channel_id.is_some() {
            self.voice.insert(state.user_id, state);
        } else {
            self.voice.remove(&state.user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{
        ChannelType, GuildCommand, GuildEvent, ModifyChannel, ModifyMember, VoiceState,
    };
    use cloudcord_schemas::ids::{ChannelId, UserId};
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cqrs_es::Aggregate;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, BOB, CAROL, GUILD, MODS, OWNER, TEXT, VOICE, by, channel, guild, joined, role,
        with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::{Domain, decide};

    fn join(channel_id: ChannelId) -> GuildCommand {
        GuildCommand::UpdateVoiceState {
            channel_id: Some(channel_id),
            self_mute: false,
            self_deaf: false,
            session_id: None,
        }
    }

    fn result(
        history: Vec<Domain<GuildEvent>>,
        actor: UserId,
        command: GuildCommand,
    ) -> Result<Vec<Domain<GuildEvent>>, GuildError> {
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(actor, command))
            .inspect_result()
    }

    fn state_of(events: &[Domain<GuildEvent>]) -> &VoiceState {
        match events {
            [Domain(GuildEvent::VoiceStateUpdated(updated))] => &updated.state,
            other => panic!("expected one VoiceStateUpdated, got {other:?}"),
        }
    }

    fn apply_all(history: Vec<Domain<GuildEvent>>) -> Guild {
        let mut guild = Guild::default();
        for event in history {
            guild.apply(event);
        }
        guild
    }

    /// The guild with `denied` taken from ALICE in the voice channel.
    fn denied_in_voice(denied: Permissions) -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(Domain(GuildEvent::ChannelOverwriteUpserted(
            cloudcord_schemas::guild::ChannelOverwriteUpserted {
                channel_id: VOICE,
                overwrite: PermissionOverwrite::member(ALICE, Permissions::empty(), denied),
            },
        )));
        history
    }

    /// `events` disconnect the member, and after them no one is in voice.
    fn assert_left(mut history: Vec<Domain<GuildEvent>>, events: Vec<Domain<GuildEvent>>) {
        assert_eq!(state_of(&events).channel_id, None);
        history.extend(events);
        assert!(apply_all(history).voice.is_empty());
    }

    /// The `General` voice channel limited to one user, with BOB connected.
    fn full_channel() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        let mut limit = ModifyChannel::new(VOICE);
        limit.user_limit = Some(1);
        history.extend(
            result(history.clone(), OWNER, GuildCommand::ModifyChannel(limit)).expect("limited"),
        );
        history.extend(result(history.clone(), BOB, join(VOICE)).expect("bob joins"));
        history
    }

    #[test]
    fn members_join_voice_channels() {
        let events = result(guild(), ALICE, join(VOICE)).expect("joined");
        let state = state_of(&events);
        assert_eq!(state.channel_id, Some(VOICE));
        assert!(!state.suppress);
    }

    #[test]
    fn joining_voice_needs_connect() {
        let mut history = guild();
        history.push(channel(
            ChannelId::new(3000),
            ChannelType::GuildVoice,
            vec![PermissionOverwrite::role(
                GUILD.everyone_role(),
                Permissions::empty(),
                Permissions::CONNECT,
            )],
        ));
        assert_eq!(
            result(history, ALICE, join(ChannelId::new(3000))),
            Err(GuildError::MissingPermissions)
        );
    }

    #[test]
    fn only_voice_channels_can_be_joined() {
        assert_eq!(
            result(guild(), ALICE, join(TEXT)),
            Err(GuildError::WrongChannelType)
        );
    }

    #[test]
    fn a_full_voice_channel_refuses_members_without_move_members() {
        TestFramework::<Guild>::with(())
            .given(full_channel())
            .when(by(ALICE, join(VOICE)))
            .then_expect_error(GuildError::ChannelFull);
    }

    #[test]
    fn move_members_bypasses_the_user_limit() {
        let mut history = full_channel();
        history.push(role(MODS, 1, Permissions::MOVE_MEMBERS));
        history.push(with_roles(ALICE, &[MODS]));
        assert!(result(history, ALICE, join(VOICE)).is_ok());
    }

    #[test]
    fn a_joins_answer_says_whether_the_member_may_stream() {
        let may_stream = |history| {
            let accepted = decide(&mut apply_all(history), by(ALICE, join(VOICE)))
                .map(|(_, accepted)| accepted)
                .expect("joined");
            accepted.body.expect("a voice state")["may_stream"].clone()
        };
        assert_eq!(may_stream(guild()), serde_json::json!(true));
        let history = denied_in_voice(Permissions::STREAM);
        assert_eq!(may_stream(history), serde_json::json!(false));
    }

    #[test]
    fn members_without_speak_join_suppressed() {
        let history = denied_in_voice(Permissions::SPEAK);
        let events = result(history, ALICE, join(VOICE)).expect("joined");
        assert!(state_of(&events).suppress);
    }

    #[test]
    fn self_mute_and_deaf_are_kept_and_leaving_disconnects() {
        let mut history = guild();
        let muted = GuildCommand::UpdateVoiceState {
            channel_id: Some(VOICE),
            self_mute: true,
            self_deaf: true,
            session_id: Some("s1".into()),
        };
        let events = result(history.clone(), ALICE, muted).expect("joined");
        assert!(state_of(&events).self_mute && state_of(&events).self_deaf);
        history.extend(events);
        let leave = GuildCommand::UpdateVoiceState {
            channel_id: None,
            self_mute: false,
            self_deaf: false,
            session_id: None,
        };
        let events = result(history.clone(), ALICE, leave).expect("left");
        assert_left(history, events);
    }

    #[test]
    fn a_dropped_media_connection_disconnects_its_channels_voice_state() {
        let mut history = guild();
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("joined"));
        let dropped = GuildCommand::DropVoiceConnection { channel_id: VOICE };
        let events = result(history.clone(), ALICE, dropped).expect("dropped");
        assert_left(history, events);
    }

    #[test]
    fn a_dropped_media_connection_leaves_a_member_who_moved_on_in_place() {
        let lounge = ChannelId::new(3000);
        let mut history = guild();
        history.push(channel(lounge, ChannelType::GuildVoice, vec![]));
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("joined"));
        history.extend(result(history.clone(), ALICE, join(lounge)).expect("moved"));
        let dropped = GuildCommand::DropVoiceConnection { channel_id: VOICE };
        assert_eq!(result(history.clone(), ALICE, dropped.clone()), Ok(vec![]));
        let never_joined = result(guild(), ALICE, dropped);
        assert_eq!(never_joined, Ok(vec![]), "nothing to drop");
    }

    #[test]
    fn server_muted_members_join_muted() {
        let mut history = guild();
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("joined"));
        let mut mute = ModifyMember::new(ALICE);
        mute.mute = Some(true);
        let events =
            result(history.clone(), OWNER, GuildCommand::ModifyMember(mute)).expect("muted");
        assert_eq!(events.len(), 2, "member and voice state change: {events:?}");
        history.extend(events);
        let leave = GuildCommand::UpdateVoiceState {
            channel_id: None,
            self_mute: false,
            self_deaf: false,
            session_id: None,
        };
        history.extend(result(history.clone(), ALICE, leave).expect("left"));
        let events = result(history, ALICE, join(VOICE)).expect("rejoined");
        assert!(state_of(&events).mute);
    }

    #[test]
    fn server_mute_needs_mute_members() {
        let mut history = guild();
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("joined"));
        let mut mute = ModifyMember::new(ALICE);
        mute.mute = Some(true);
        assert_eq!(
            result(history, BOB, GuildCommand::ModifyMember(mute)),
            Err(GuildError::MissingPermissions)
        );
    }

    #[test]
    fn moving_a_member_needs_move_members_and_a_voice_destination() {
        let mut history = guild();
        history.push(channel(
            ChannelId::new(3000),
            ChannelType::GuildVoice,
            vec![],
        ));
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("joined"));
        let mut move_to = ModifyMember::new(ALICE);
        move_to.channel_id = Some(Some(ChannelId::new(3000)));
        assert_eq!(
            result(
                history.clone(),
                BOB,
                GuildCommand::ModifyMember(move_to.clone())
            ),
            Err(GuildError::MissingPermissions)
        );
        let events =
            result(history.clone(), OWNER, GuildCommand::ModifyMember(move_to)).expect("moved");
        assert_eq!(state_of(&events).channel_id, Some(ChannelId::new(3000)));
        let mut to_text = ModifyMember::new(ALICE);
        to_text.channel_id = Some(Some(TEXT));
        assert_eq!(
            result(history, OWNER, GuildCommand::ModifyMember(to_text)),
            Err(GuildError::WrongChannelType)
        );
    }

    #[test]
    fn kicked_members_and_deleted_channels_leave_voice() {
        let mut history = guild();
        history.push(joined(CAROL));
        history.extend(result(history.clone(), ALICE, join(VOICE)).expect("alice joins"));
        history.extend(result(history.clone(), CAROL, join(VOICE)).expect("carol joins"));
        history.extend(
            result(
                history.clone(),
                OWNER,
                GuildCommand::KickMember { user_id: ALICE },
            )
            .expect("kicked"),
        );
        assert!(!apply_all(history.clone()).voice.contains_key(&ALICE));
        history.extend(
            result(
                history.clone(),
                OWNER,
                GuildCommand::DeleteChannel { channel_id: VOICE },
            )
            .expect("deleted"),
        );
        assert!(apply_all(history).voice.is_empty());
    }
}

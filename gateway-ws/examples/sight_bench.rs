//! What a change of who sees which channels costs the gateway's routing, which does
//! it under its lock ([`cloudcord_gateway_ws::sight`]): a guild of `--members`
//! followers and `--channels` text channels, where
//!
//! * `@everyone` loses VIEW_CHANNEL: every member but the owner stops seeing every
//!   channel (the worst case: one CHANNEL_DELETE per member and channel), and
//! * one member is given a role that lets them see the channels a deny hid.
//!
//! ```text
//! cargo run --release -p cloudcord-gateway-ws --example sight_bench -- --members 1000 --channels 100
//! ```
//!
//! Prints the time of `Sight::before`, and of everything up to the dispatches
//! (applying the event included), best and median of `--runs`.

#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use clap::Parser;
use cloudcord_gateway_ws::guild_state::{GuildState, Member};
use cloudcord_gateway_ws::sight::Sight;
use cloudcord_schemas::guild::{
    ChannelType, GuildChannel, GuildEvent, MemberUpdated, Role, RoleUpdated,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use time::OffsetDateTime;

#[derive(Parser)]
struct Args {
    /// Members, each with a session following the guild.
    #[arg(long, default_value_t = 1000)]
    members: u64,
    /// Text channels.
    #[arg(long, default_value_t = 100)]
    channels: u64,
    /// Times each case is measured.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const GUILD: GuildId = GuildId::new(1);
const OWNER: UserId = UserId::new(2);
/// Lets its holders see what the deny on every odd channel hides.
const READERS: RoleId = RoleId::new(3);

fn role(id: RoleId, permissions: Permissions) -> Role {
    Role {
        id,
        name: format!("role {id}"),
        color: 0,
        hoist: false,
        position: 0,
        permissions,
        managed: false,
        mentionable: false,
    }
}

/// Channel `n`; odd ones are hidden from `@everyone` and shown to READERS.
fn channel(n: u64) -> GuildChannel {
    let hidden = n % 2 == 1;
    GuildChannel {
        id: ChannelId::new(1_000 + n),
        kind: ChannelType::GuildText,
        name: format!("channel-{n}"),
        position: u32::try_from(n).unwrap_or(u32::MAX),
        parent_id: None,
        topic: None,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        permission_overwrites: if hidden {
            vec![
                PermissionOverwrite::role(
                    GUILD.everyone_role(),
                    Permissions::empty(),
                    Permissions::VIEW_CHANNEL,
                ),
                PermissionOverwrite::role(READERS, Permissions::VIEW_CHANNEL, Permissions::empty()),
            ]
        } else {
            Vec::new()
        },
    }
}

fn member(id: UserId) -> Member {
    Member {
        user: UserSnapshot {
            id,
            username: format!("user{id}"),
            global_name: None,
            avatar: None,
            bot: false,
        },
        nick: None,
        roles: Vec::new(),
        joined_at: OffsetDateTime::UNIX_EPOCH,
        communication_disabled_until: None,
        mute: false,
        deaf: false,
    }
}

fn guild(args: &Args) -> GuildState {
    let everyone = GUILD.everyone_role();
    GuildState {
        id: GUILD,
        position: 1,
        name: "bench".into(),
        description: None,
        owner_id: OWNER,
        system_channel_id: None,
        afk_channel_id: None,
        afk_timeout: 300,
        icon: None,
        banner: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        roles: BTreeMap::from([
            (everyone, role(everyone, Permissions::VIEW_CHANNEL)),
            (READERS, role(READERS, Permissions::empty())),
        ]),
        channels: (0..args.channels)
            .map(|n| (channel(n).id, channel(n)))
            .collect(),
        members: (0..args.members)
            .map(|n| UserId::new(OWNER.get() + n))
            .map(|id| (id, member(id)))
            .collect(),
        voice_states: HashMap::new(),
        last_messages: HashMap::new(),
    }
}

/// (time of `Sight::before`, time up to the dispatches, dispatches) of one run.
fn measure(state: &GuildState, event: &GuildEvent) -> (Duration, Duration, usize) {
    let mut state = state.clone();
    let followers: Vec<UserId> = state.members.keys().copied().collect();
    let start = Instant::now();
    let Some(sight) = Sight::before(&state, event, followers) else {
        return (start.elapsed(), start.elapsed(), 0);
    };
    let before = start.elapsed();
    state.apply(state.position + 1, event);
    let dispatches = sight.changes(&state).values().map(Vec::len).sum();
    (before, start.elapsed(), dispatches)
}

fn main() {
    let args = Args::parse();
    let state = guild(&args);
    let cases = [
        (
            "@everyone loses VIEW_CHANNEL",
            GuildEvent::RoleUpdated(RoleUpdated {
                role: role(GUILD.everyone_role(), Permissions::empty()),
            }),
        ),
        (
            "one member becomes a reader",
            GuildEvent::MemberUpdated(MemberUpdated {
                user_id: UserId::new(OWNER.get() + 1),
                nick: None,
                roles: vec![READERS],
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            }),
        ),
    ];
    println!(
        "{} followers, {} channels, {} runs each (best / median)",
        args.members, args.channels, args.runs
    );
    println!("| case | Sight::before | up to the dispatches | dispatches |");
    println!("|---|---:|---:|---:|");
    for (name, event) in &cases {
        let mut runs: Vec<_> = (0..args.runs.max(1))
            .map(|_| measure(&state, event))
            .collect();
        runs.sort_by_key(|run| run.1);
        let (best, median) = (runs[0], runs[runs.len() / 2]);
        println!(
            "| {name} | {:.2?} / {:.2?} | {:.2?} / {:.2?} | {} |",
            best.0, median.0, best.1, median.1, best.2
        );
    }
}

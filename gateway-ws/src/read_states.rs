//! READY's `read_state` and `user_guild_settings`: where the user has read each
//! channel up to with their unread mention counts, and their notification settings.
//!
//! The read models know the unread messages that name the user
//! ([`ReadModels::unread`]), grouped by channel and by how they name them; each
//! group counts as the user's settings say
//! ([`GuildNotificationSettings::counts_mention`], the rule notifications share)
//! and only in a channel the user sees now. Only a guild with such messages needs
//! that last answer, from the guild state this process routes with, or loaded
//! when it follows no such guild. Afterwards the client keeps the
//! counts live from MESSAGE_CREATE / UPDATE / DELETE, MESSAGE_ACK and
//! USER_GUILD_SETTINGS_UPDATE, as Discord's clients keep theirs.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::user::{GuildNotificationSettings, UserGuildSettingsObject};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::fanout::Fanout;
use crate::guild_state::GuildState;
use crate::read_models::{ReadModels, Unread};

/// READY's `read_state` and `user_guild_settings` for `user` at `now` (when mutes
/// end). Whether the user sees a channel comes from `fanout`'s guild state when
/// this process follows the guild already, so that only guilds nobody here follows
/// are loaded from the read models.
pub async fn ready_lists(
    read_models: &ReadModels,
    fanout: &Fanout,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(Value, Value), sqlx::Error> {
    let unread = read_models.unread(user).await?;
    let settings = read_models.guild_settings(user).await?;
    let mut loaded: HashMap<GuildId, Option<GuildState>> = HashMap::new();
    let mut visible: HashSet<(GuildId, ChannelId)> = HashSet::new();
    for group in &unread.mentions {
        let (guild, channel) = (group.guild_id, group.channel_id);
        let sees = match fanout.can_view(guild, user, channel) {
            Some(sees) => sees,
            None => {
                let state = match loaded.entry(guild) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(unknown) => unknown.insert(read_models.guild(guild).await?),
                };
                state
                    .as_ref()
                    .is_some_and(|state| state.can_view(user, channel))
            }
        };
        if sees {
            visible.insert((guild, channel));
        }
    }
    let by_guild: HashMap<GuildId, &GuildNotificationSettings> = settings
        .iter()
        .map(|(guild, settings, _)| (*guild, settings))
        .collect();
    let read_state = read_state_object(
        &unread,
        |guild| by_guild.get(&guild).copied(),
        |guild, channel| visible.contains(&(guild, channel)),
        now,
    );
    let version = settings.iter().map(|(_, _, v)| *v).max().unwrap_or(0);
    let entries: Vec<Value> = settings
        .iter()
        .map(|(guild, settings, _)| UserGuildSettingsObject::new(*guild, settings).to_json())
        .collect();
    let user_guild_settings = json!({ "entries": entries, "partial": false, "version": version });
    Ok((read_state, user_guild_settings))
}

/// Discord's read-state list from `unread`: every channel with an ack or unread
/// mentions. `settings` gives the user's settings for a guild (`None`: the
/// defaults) and `visible` whether they see a guild channel now; a DM's messages
/// always count.
pub fn read_state_object<'a>(
    unread: &Unread,
    settings: impl Fn(GuildId) -> Option<&'a GuildNotificationSettings>,
    visible: impl Fn(GuildId, ChannelId) -> bool,
    now: OffsetDateTime,
) -> Value {
    let defaults = GuildNotificationSettings::default();
    // channel → (last acked message, unread mentions); a channel gets an entry when
    // acked or when something in it counts, so a never-acked channel whose
    // mentions all count nothing says nothing.
    let mut channels: BTreeMap<ChannelId, (u64, u32)> = unread
        .acks
        .iter()
        .map(|(channel, last, _)| (*channel, (*last, 0)))
        .collect();
    for group in &unread.mentions {
        let counts = settings(group.guild_id)
            .unwrap_or(&defaults)
            .counts_mention(group.channel_id, group.kinds, now)
            && visible(group.guild_id, group.channel_id);
        if counts {
            let entry = channels.entry(group.channel_id).or_default();
            entry.1 = entry.1.saturating_add(group.count);
        }
    }
    for (channel, count) in &unread.dm_messages {
        let entry = channels.entry(*channel).or_default();
        entry.1 = entry.1.saturating_add(*count);
    }
    let entries: Vec<Value> = channels
        .into_iter()
        .map(|(channel, (last, count))| {
            json!({
                "id": channel,
                // Never acked: Discord's "0", before every message.
                "last_message_id": last.to_string(),
                "mention_count": count,
            })
        })
        .collect();
    let version = unread.acks.iter().map(|(_, _, v)| *v).max().unwrap_or(0);
    json!({ "entries": entries, "partial": false, "version": version })
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::{ChannelId, GuildId};
    use cloudcord_schemas::user::{GuildNotificationSettings, MentionKinds};
    use serde_json::json;
    use time::macros::datetime;

    use super::read_state_object;
    use crate::read_models::{Unread, UnreadMentions};

    const GUILD: GuildId = GuildId::new(1);
    const SEEN: ChannelId = ChannelId::new(10);
    const HIDDEN: ChannelId = ChannelId::new(11);
    const HIDDEN_ACKED: ChannelId = ChannelId::new(12);
    const DM: ChannelId = ChannelId::new(20);

    fn group(channel: ChannelId, kinds: MentionKinds, count: u32) -> UnreadMentions {
        UnreadMentions {
            channel_id: channel,
            guild_id: GUILD,
            kinds,
            count,
        }
    }

    #[test]
    fn mentions_count_where_the_user_sees_them_as_their_settings_say() {
        let direct = MentionKinds {
            direct: true,
            ..MentionKinds::default()
        };
        let everyone = MentionKinds {
            everyone: true,
            ..MentionKinds::default()
        };
        let unread = Unread {
            acks: vec![(HIDDEN_ACKED, 7, 3), (DM, 9, 5)],
            mentions: vec![
                group(SEEN, direct, 2),
                group(SEEN, everyone, 4),
                group(HIDDEN, direct, 3),
                group(HIDDEN_ACKED, direct, 1),
            ],
            dm_messages: vec![(DM, 4)],
        };
        let settings = GuildNotificationSettings {
            suppress_everyone: true,
            ..GuildNotificationSettings::default()
        };
        let object = read_state_object(
            &unread,
            |_| Some(&settings),
            |_, channel| channel == SEEN,
            datetime!(2026-11-28 12:00 UTC),
        );
        assert_eq!(
            object,
            json!({
                "entries": [
                    {"id": "10", "last_message_id": "0", "mention_count": 2},
                    {"id": "12", "last_message_id": "7", "mention_count": 0},
                    {"id": "20", "last_message_id": "9", "mention_count": 4},
                ],
                "partial": false,
                "version": 5,
            })
        );
    }
}

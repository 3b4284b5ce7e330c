//! READY's `read_state` and `user_guild_settings`: where the user has read each
//! channel up to with their unread mention counts, and their notification settings.
//!
//! The counts come from the read models ([`ReadModels::read_states`]), which know
//! the mentions but not who may see a channel now. Only a channel with unread
//! mentions needs that answer, so only its guild's state is loaded, and a channel
//! the user can no longer see counts nothing. Afterwards the counts are kept live
//! by the client from MESSAGE_CREATE / UPDATE / DELETE, MESSAGE_ACK and
//! USER_GUILD_SETTINGS_UPDATE, as Discord's clients keep theirs.

use std::collections::{HashMap, HashSet};

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::user::UserGuildSettingsObject;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::guild_state::GuildState;
use crate::read_models::{ReadModels, ReadStateRow};

/// READY's `read_state` and `user_guild_settings` for `user` at `now`.
pub async fn ready_lists(
    read_models: &ReadModels,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(Value, Value), sqlx::Error> {
    let rows = read_models.read_states(user, now).await?;
    let with_mentions: HashSet<GuildId> = rows
        .iter()
        .filter(|row| row.mention_count > 0)
        .filter_map(|row| row.guild_id)
        .collect();
    let mut guilds: HashMap<GuildId, Option<GuildState>> = HashMap::new();
    for guild in with_mentions {
        guilds.insert(guild, read_models.guild(guild).await?);
    }
    let read_state = read_state_object(rows, |guild, channel| {
        guilds
            .get(&guild)
            .and_then(Option::as_ref)
            .is_some_and(|state| state.can_view(user, channel))
    });
    let settings = read_models.guild_settings(user).await?;
    let version = settings.iter().map(|(_, _, v)| *v).max().unwrap_or(0);
    let entries: Vec<Value> = settings
        .iter()
        .map(|(guild, settings, _)| UserGuildSettingsObject::new(*guild, settings).to_json())
        .collect();
    let user_guild_settings = json!({ "entries": entries, "partial": false, "version": version });
    Ok((read_state, user_guild_settings))
}

/// Discord's read-state list from `rows`; `visible` says whether the user sees a
/// guild channel now (a DM's recipients always see it). A hidden channel's
/// mentions count nothing, and it is left out unless the user acked in it.
pub fn read_state_object(
    rows: Vec<ReadStateRow>,
    visible: impl Fn(GuildId, ChannelId) -> bool,
) -> Value {
    let version = rows.iter().map(|row| row.version).max().unwrap_or(0);
    let entries: Vec<Value> = rows
        .into_iter()
        .filter_map(|mut row| {
            if let Some(guild) = row.guild_id
                && !visible(guild, row.channel_id)
            {
                row.mention_count = 0;
                row.last_message_id?;
            }
            Some(json!({
                "id": row.channel_id,
                // Never acked: Discord's "0", before every message.
                "last_message_id": row.last_message_id.unwrap_or(0).to_string(),
                "mention_count": row.mention_count,
            }))
        })
        .collect();
    json!({ "entries": entries, "partial": false, "version": version })
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::{ChannelId, GuildId};
    use serde_json::json;

    use super::read_state_object;
    use crate::read_models::ReadStateRow;

    const GUILD: GuildId = GuildId::new(1);
    const SEEN: ChannelId = ChannelId::new(10);
    const HIDDEN: ChannelId = ChannelId::new(11);
    const HIDDEN_ACKED: ChannelId = ChannelId::new(12);
    const DM: ChannelId = ChannelId::new(20);

    fn row(
        channel: ChannelId,
        guild: Option<GuildId>,
        last: Option<u64>,
        mentions: u32,
    ) -> ReadStateRow {
        ReadStateRow {
            channel_id: channel,
            guild_id: guild,
            last_message_id: last,
            version: last.unwrap_or(0),
            mention_count: mentions,
        }
    }

    #[test]
    fn hidden_channels_count_no_mentions_and_unacked_ones_are_left_out() {
        let rows = vec![
            row(SEEN, Some(GUILD), None, 2),
            row(HIDDEN, Some(GUILD), None, 3),
            row(HIDDEN_ACKED, Some(GUILD), Some(7), 1),
            row(DM, None, Some(9), 4),
        ];
        let object = read_state_object(rows, |_, channel| channel == SEEN);
        assert_eq!(
            object,
            json!({
                "entries": [
                    {"id": "10", "last_message_id": "0", "mention_count": 2},
                    {"id": "12", "last_message_id": "7", "mention_count": 0},
                    {"id": "20", "last_message_id": "9", "mention_count": 4},
                ],
                "partial": false,
                "version": 9,
            })
        );
    }
}

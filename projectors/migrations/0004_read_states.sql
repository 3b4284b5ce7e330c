-- Read states, the mention inbox and notification settings (issue 10).
--
-- Mention counts are not stored: they are counted when read, from the read state
-- (the last acked message), the mentions of the messages after it and the
-- user's notification settings. A stored count would need every member's row
-- touched by each @everyone, and each edit, deletion, role change or settings
-- change would have to be folded into it; counted from these three tables, every
-- one of those is right by construction.

-- The 0001 placeholder had a stored mention count and was never written.
DROP TABLE read_states;

-- Where a user has read a channel up to. `version` is the acking event's `seq` in
-- its aggregate (Discord's read-state version: clients only compare a channel's
-- versions, and the channel's acks all come from one aggregate), so a replay
-- writes the same value as the live projector.
CREATE TABLE read_states (
    user_id         int8 NOT NULL,
    channel_id      int8 NOT NULL,
    last_message_id int8 NOT NULL,
    version         int8 NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);

-- The mentions of each message that has any, as its last edit left them. Deleted
-- messages keep their row; readers join message_index and skip deleted ones.
CREATE TABLE message_mentions (
    message_id int8 PRIMARY KEY,
    channel_id int8 NOT NULL,
    guild_id   int8,
    everyone   bool NOT NULL,
    users      int8[] NOT NULL,
    roles      int8[] NOT NULL
);
-- The inbox and the counts look for one user among `users`.
CREATE INDEX message_mentions_by_user ON message_mentions USING gin (users);
-- …and for role and @everyone mentions per guild, newest first.
CREATE INDEX message_mentions_by_guild ON message_mentions (guild_id, message_id)
    WHERE everyone OR cardinality(roles) > 0;
CREATE INDEX message_mentions_by_channel ON message_mentions (channel_id, message_id);

-- A user's notification settings for a guild: the `GuildNotificationSettings` of
-- the schemas crate as JSON (readers render it and read mutes and levels from it),
-- versioned by the user aggregate's `seq`.
CREATE TABLE user_guild_settings (
    user_id  int8 NOT NULL,
    guild_id int8 NOT NULL,
    settings jsonb NOT NULL,
    version  int8 NOT NULL,
    PRIMARY KEY (user_id, guild_id)
);

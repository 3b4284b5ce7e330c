-- CloudCord's relational read models, projected from the events topic.
--
-- Every row is owned by exactly one aggregate (a guild's rows by that guild, a
-- user's by that user, …), so the order in which partitions interleave never
-- changes the result: a replay from offset 0 equals the live tables.
-- Snowflakes are int8 (CloudCord's ids stay below 2^63); permissions are int8 bit sets.

-- Projector bookkeeping: the next events offset per partition, written in the same
-- transaction as the rows it covers. Excluded from digests.
CREATE TABLE projector_offsets (
    topic       text NOT NULL,
    partition   int4 NOT NULL,
    next_offset int8 NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- The last seq applied per aggregate: how duplicates and gaps are recognised.
CREATE TABLE aggregate_positions (
    aggregate_type text NOT NULL,
    aggregate_id   int8 NOT NULL,
    seq            int8 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE users (
    id             int8 PRIMARY KEY,
    username       text NOT NULL,
    global_name    text,
    avatar         text,
    email          text,
    bot            bool NOT NULL,
    application_id int8,
    owner_id       int8
);

-- One side of a relationship, as `user_id` sees it (Discord's type numbers).
CREATE TABLE relationships (
    user_id  int8 NOT NULL,
    other_id int8 NOT NULL,
    type     int2 NOT NULL,
    PRIMARY KEY (user_id, other_id)
);

CREATE TABLE guilds (
    id                int8 PRIMARY KEY,
    name              text NOT NULL,
    description       text,
    owner_id          int8 NOT NULL,
    system_channel_id int8,
    afk_channel_id    int8,
    afk_timeout       int4 NOT NULL,
    created_at        timestamptz NOT NULL
);

CREATE TABLE channels (
    id                  int8 PRIMARY KEY,
    guild_id            int8 NOT NULL,
    type                int2 NOT NULL,
    name                text NOT NULL,
    position            int4 NOT NULL,
    parent_id           int8,
    topic               text,
    nsfw                bool NOT NULL,
    rate_limit_per_user int4 NOT NULL,
    bitrate             int4,
    user_limit          int4
);
CREATE INDEX channels_by_guild ON channels (guild_id);

CREATE TABLE permission_overwrites (
    channel_id int8 NOT NULL,
    target_id  int8 NOT NULL,
    guild_id   int8 NOT NULL,
    type       int2 NOT NULL,
    allow      int8 NOT NULL,
    deny       int8 NOT NULL,
    PRIMARY KEY (channel_id, target_id)
);
CREATE INDEX permission_overwrites_by_guild ON permission_overwrites (guild_id);

CREATE TABLE roles (
    id          int8 PRIMARY KEY,
    guild_id    int8 NOT NULL,
    name        text NOT NULL,
    color       int4 NOT NULL,
    hoist       bool NOT NULL,
    position    int4 NOT NULL,
    permissions int8 NOT NULL,
    managed     bool NOT NULL,
    mentionable bool NOT NULL
);
CREATE INDEX roles_by_guild ON roles (guild_id);

CREATE TABLE members (
    guild_id                     int8 NOT NULL,
    user_id                      int8 NOT NULL,
    nick                         text,
    roles                        int8[] NOT NULL,
    joined_at                    timestamptz NOT NULL,
    communication_disabled_until timestamptz,
    mute                         bool NOT NULL,
    deaf                         bool NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE bans (
    guild_id int8 NOT NULL,
    user_id  int8 NOT NULL,
    reason   text,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE invites (
    code       text PRIMARY KEY,
    guild_id   int8 NOT NULL,
    channel_id int8 NOT NULL,
    inviter_id int8 NOT NULL,
    max_age    int4 NOT NULL,
    max_uses   int4 NOT NULL,
    uses       int4 NOT NULL,
    temporary  bool NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX invites_by_guild ON invites (guild_id);

CREATE TABLE voice_states (
    guild_id   int8 NOT NULL,
    user_id    int8 NOT NULL,
    channel_id int8 NOT NULL,
    session_id text,
    deaf       bool NOT NULL,
    mute       bool NOT NULL,
    self_deaf  bool NOT NULL,
    self_mute  bool NOT NULL,
    suppress   bool NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- A DM channel between two users (`user_low` < `user_high`).
CREATE TABLE dm_channels (
    id        int8 PRIMARY KEY,
    user_low  int8 NOT NULL,
    user_high int8 NOT NULL
);
CREATE INDEX dm_channels_by_low ON dm_channels (user_low);
CREATE INDEX dm_channels_by_high ON dm_channels (user_high);

-- Blocks recorded on a DM channel (possibly before it was opened).
CREATE TABLE dm_blocks (
    channel_id int8 NOT NULL,
    blocker_id int8 NOT NULL,
    blocked_id int8 NOT NULL,
    PRIMARY KEY (channel_id, blocker_id)
);

-- Read states: no event moves them yet (there is no acknowledge command), so the
-- table is the contract query-api reads, empty until that command exists.
CREATE TABLE read_states (
    user_id         int8 NOT NULL,
    channel_id      int8 NOT NULL,
    last_message_id int8,
    mention_count   int4 NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);

-- Where each message is and whether it is still visible; its content lives in Mongo.
CREATE TABLE message_index (
    id         int8 PRIMARY KEY,
    channel_id int8 NOT NULL,
    guild_id   int8,
    author_id  int8 NOT NULL,
    created_at timestamptz NOT NULL,
    pinned     bool NOT NULL,
    deleted    bool NOT NULL
);
CREATE INDEX message_index_by_channel ON message_index (channel_id, id);
CREATE INDEX message_index_by_guild_author ON message_index (guild_id, author_id, created_at);

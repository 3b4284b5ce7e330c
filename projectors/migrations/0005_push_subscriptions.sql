-- Web Push subscriptions (issue 10): where gateway-ws delivers pushes to people
-- who are offline, and the keys it encrypts them to (RFC 8291).
--
-- One row per endpoint, not per (user, endpoint): a browser has one subscription
-- per site, so when another person signs in on the same browser and registers it,
-- the endpoint becomes theirs and the previous user's pushes stop going there.
CREATE TABLE push_subscriptions (
    endpoint text PRIMARY KEY,
    user_id  int8 NOT NULL,
    p256dh   text NOT NULL,
    auth     text NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);

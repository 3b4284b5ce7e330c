-- A bot's current token generation, so the read side and the gateway refuse a token
-- its owner has reset (the token's signature alone cannot say it was replaced).
ALTER TABLE users ADD COLUMN bot_token_id int8;

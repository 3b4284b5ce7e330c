-- Guild icons and banners (issue 10): the hashes of their images, which live in
-- the file store and are served at /cdn/icons/{guild.id}/{hash}.{ext} and
-- /cdn/banners/{guild.id}/{hash}.{ext}. NULL is none, as in every guild created
-- before this migration.
ALTER TABLE guilds
    ADD COLUMN icon   text,
    ADD COLUMN banner text;

//! The bots page's twilight bot (`docs/src/examples/bots.md` includes this file):
//! it answers `!ping` with `pong`. `make docs-test` runs it against a stack.
#![expect(
    clippy::print_stdout,
    reason = "the bot tells its terminal what it sees"
)]

use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_http::Client;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // twilight leaves the TLS crypto provider to the bot: rustls's ring here.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider is installed already"))?;
    let token = std::env::var("BOT_TOKEN")?;
    // CloudCord's front door: the REST API and the gateway share its address.
    let host = std::env::var("CLOUDCORD_HOST").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    // REST: http://{host}/api/v10/… (`true`: plain HTTP, not TLS).
    let http = Client::builder()
        .proxy(host.clone(), true)
        .token(token.clone())
        .build();
    let intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT;
    let config = ConfigBuilder::new(token, intents)
        .proxy_url(format!("ws://{host}/gateway"))
        .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    while let Some(event) = shard.next_event(EventTypeFlags::all()).await {
        match event? {
            Event::Ready(ready) => println!("ready as {}", ready.user.name),
            // A guild's events flow once its GUILD_CREATE has come.
            Event::GuildCreate(guild) => println!("in guild {}", guild.id()),
            Event::MessageCreate(message) if message.content == "!ping" => {
                http.create_message(message.channel_id)
                    .content("pong")
                    .reply(message.id)
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

//! The guild aggregate: a guild with everything inside it.

use cloudcord_schemas::envelope::{Actor, AggregateType, ApiError, Authored};
use cloudcord_schemas::guild::{GuildCommand, GuildCreated, GuildEvent, GuildUpdated};
use cloudcord_schemas::ids::UserId;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Accepted, Decider, Domain, Refusal};

/// A guild's decision state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Guild {
    created: bool,
    name: String,
    owner_id: Option<UserId>,
}

/// Why a guild command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuildError {
    /// The guild exists already.
    #[error("guild already exists")]
    AlreadyExists,
    /// No such guild.
    #[error("unknown guild")]
    Unknown,
    /// The actor may not do this.
    #[error("missing permissions")]
    MissingPermissions,
    /// A field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

fn valid_name(name: &str) -> Result<(), GuildError> {
    match name.chars().count() {
        2..=100 => Ok(()),
        _ => Err(GuildError::Invalid {
            field: "name",
            reason: "must be between 2 and 100 characters",
        }),
    }
}

impl Aggregate for Guild {
    const TYPE: &'static str = "guild";
    type Command = Authored<GuildCommand>;
    type Event = Domain<GuildEvent>;
    type Error = GuildError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), GuildError> {
        let Actor::User(actor) = command.actor else {
            return Err(GuildError::MissingPermissions);
        };
        let event = match command.command {
            GuildCommand::CreateGuild { name } => {
                if self.created {
                    return Err(GuildError::AlreadyExists);
                }
                valid_name(&name)?;
                GuildEvent::GuildCreated(GuildCreated {
                    name,
                    owner_id: actor,
                })
            }
            GuildCommand::ModifyGuild { name } => {
                if !self.created {
                    return Err(GuildError::Unknown);
                }
                if self.owner_id != Some(actor) {
                    return Err(GuildError::MissingPermissions);
                }
                if let Some(name) = &name {
                    valid_name(name)?;
                }
                GuildEvent::GuildUpdated(GuildUpdated { name })
            }
        };
        sink.write(Domain(event), self).await;
        Ok(())
    }

    fn apply(&mut self, Domain(event): Domain<GuildEvent>) {
        match event {
            GuildEvent::GuildCreated(GuildCreated { name, owner_id }) => {
                self.created = true;
                self.name = name;
                self.owner_id = Some(owner_id);
            }
            GuildEvent::GuildUpdated(GuildUpdated { name }) => {
                if let Some(name) = name {
                    self.name = name;
                }
            }
        }
    }
}

impl Decider for Guild {
    type Request = GuildCommand;
    type Change = GuildEvent;
    const KIND: AggregateType = AggregateType::Guild;

    fn accepted(&self, events: &[GuildEvent]) -> Accepted {
        let status = if matches!(events.first(), Some(GuildEvent::GuildCreated(_))) {
            201
        } else {
            200
        };
        Accepted {
            status,
            body: Some(json!({
                "name": self.name,
                "owner_id": self.owner_id,
            })),
        }
    }

    fn refused(error: &GuildError) -> Refusal {
        let (status, code) = match error {
            GuildError::AlreadyExists | GuildError::Invalid { .. } => (400, 50035),
            GuildError::Unknown => (404, 10004),
            GuildError::MissingPermissions => (403, 50013),
        };
        Refusal {
            status,
            error: ApiError {
                code,
                message: error.to_string(),
                errors: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::guild::{GuildCommand, GuildCreated, GuildEvent};
    use cloudcord_schemas::ids::UserId;
    use cqrs_es::test::TestFramework;
    use time::macros::datetime;

    use super::{Guild, GuildError};
    use crate::aggregates::Domain;

    const OWNER: UserId = UserId::new(10);
    const STRANGER: UserId = UserId::new(20);

    fn by(actor: UserId, command: GuildCommand) -> Authored<GuildCommand> {
        Authored {
            actor: Actor::User(actor),
            at: datetime!(2026-11-28 12:00 UTC),
            command,
        }
    }

    fn created() -> Vec<Domain<GuildEvent>> {
        vec![Domain(GuildEvent::GuildCreated(GuildCreated {
            name: "Rustaceans".into(),
            owner_id: OWNER,
        }))]
    }

    #[test]
    fn creating_a_guild_makes_the_actor_its_owner() {
        TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(
                OWNER,
                GuildCommand::CreateGuild {
                    name: "Rustaceans".into(),
                },
            ))
            .then_expect_events(created());
    }

    #[test]
    fn a_guild_cannot_be_created_twice() {
        TestFramework::<Guild>::with(())
            .given(created())
            .when(by(
                OWNER,
                GuildCommand::CreateGuild {
                    name: "Again".into(),
                },
            ))
            .then_expect_error(GuildError::AlreadyExists);
    }

    #[test]
    fn a_guild_name_has_2_to_100_characters() {
        TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(OWNER, GuildCommand::CreateGuild { name: "x".into() }))
            .then_expect_error_message("invalid name: must be between 2 and 100 characters");
    }

    #[test]
    fn only_the_owner_may_modify_the_guild() {
        TestFramework::<Guild>::with(())
            .given(created())
            .when(by(
                STRANGER,
                GuildCommand::ModifyGuild {
                    name: Some("Mine".into()),
                },
            ))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn modifying_an_unknown_guild_is_refused() {
        TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(OWNER, GuildCommand::ModifyGuild { name: None }))
            .then_expect_error(GuildError::Unknown);
    }
}

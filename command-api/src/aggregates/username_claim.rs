//! The username claim aggregate: who holds one username, across every shard.
//!
//! Its id is [`claim_id`](cloudcord_schemas::username_claim::claim_id) of the
//! normalized name, so all requests for a name meet at one single writer. The HTTP
//! layer claims a name before `RegisterUser` or a username change on the user
//! aggregate, and releases it when that next step fails (see
//! [`cloudcord_schemas::username_claim`] for the whole flow and its repair).

use cloudcord_schemas::envelope::{Actor, AggregateType, ApiError, Authored};
use cloudcord_schemas::ids::UserId;
use cloudcord_schemas::username_claim::{
    InvalidUsername, UsernameClaimCommand, UsernameClaimEvent, UsernameClaimed, UsernameReleased,
    normalize_username, username_taken_errors,
};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{Accepted, Decider, Domain, Refusal};

/// The claim on one username: its holder, if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsernameClaim {
    /// The normalized name (kept after a release: a claim id belongs to one name).
    username: Option<String>,
    /// Who holds it now.
    holder: Option<UserId>,
}

/// Why a claim command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameClaimError {
    /// Someone else holds the name (or, after a 63-bit hash collision, another name
    /// owns this claim id).
    #[error("username is already taken")]
    Taken,
    /// The name breaks the username rules, or is not in its normalized form.
    #[error("invalid username: {0}")]
    Invalid(InvalidUsername),
    /// Only the holder (or CloudCord itself) may release a name, and only for itself.
    #[error("missing access")]
    MissingAccess,
    /// Nobody holds the name.
    #[error("username is not claimed")]
    NotClaimed,
}

impl UsernameClaim {
    /// Who holds the name now.
    pub fn holder(&self) -> Option<UserId> {
        self.holder
    }
}

/// `actor` may act for `user`: it is that user, or CloudCord itself.
fn acts_for(actor: Actor, user: UserId) -> bool {
    match actor {
        Actor::User(id) => id == user,
        Actor::System => true,
    }
}

impl Aggregate for UsernameClaim {
    const TYPE: &'static str = "username_claim";
    type Command = Authored<UsernameClaimCommand>;
    type Event = Domain<UsernameClaimEvent>;
    type Error = UsernameClaimError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), UsernameClaimError> {
        let event = match command.command {
            UsernameClaimCommand::ClaimUsername { username, user_id } => {
                let normalized =
                    normalize_username(&username).map_err(UsernameClaimError::Invalid)?;
                if normalized != username {
                    // Claim ids hash the normalized form; anything else would land on
                    // the wrong aggregate.
                    return Err(UsernameClaimError::Invalid(
                        InvalidUsername::InvalidCharacters,
                    ));
                }
                if !acts_for(command.actor, user_id) {
                    return Err(UsernameClaimError::MissingAccess);
                }
                if self.username.as_ref().is_some_and(|held| *held != username) {
                    return Err(UsernameClaimError::Taken);
                }
                match self.holder {
                    Some(holder) if holder == user_id => return Ok(()),
                    Some(_) => return Err(UsernameClaimError::Taken),
                    None => {
                        UsernameClaimEvent::UsernameClaimed(UsernameClaimed { username, user_id })
                    }
                }
            }
            UsernameClaimCommand::ReleaseUsername => {
                let (Some(username), Some(holder)) = (self.username.clone(), self.holder) else {
                    return Err(UsernameClaimError::NotClaimed);
                };
                if !acts_for(command.actor, holder) {
                    return Err(UsernameClaimError::MissingAccess);
                }
                UsernameClaimEvent::UsernameReleased(UsernameReleased {
                    username,
                    user_id: holder,
                })
            }
        };
        sink.write(Domain(event), self).await;
        Ok(())
    }

    fn apply(&mut self, Domain(event): Domain<UsernameClaimEvent>) {
        match event {
            UsernameClaimEvent::UsernameClaimed(UsernameClaimed { username, user_id }) => {
                self.username = Some(username);
                self.holder = Some(user_id);
            }
            UsernameClaimEvent::UsernameReleased(_) => self.holder = None,
        }
    }
}

impl Decider for UsernameClaim {
    type Request = UsernameClaimCommand;
    type Change = UsernameClaimEvent;
    const KIND: AggregateType = AggregateType::UsernameClaim;

    /// Claims are internal steps of registration and renaming: the HTTP layer reads
    /// the holder from the body and answers the client itself.
    fn accepted(&self, _events: &[UsernameClaimEvent]) -> Accepted {
        Accepted {
            status: 200,
            body: Some(serde_json::json!({
                "username": self.username,
                "user_id": self.holder,
            })),
        }
    }

    fn refused(error: &UsernameClaimError) -> Refusal {
        let (status, code, message, errors) = match error {
            UsernameClaimError::Taken => (
                400,
                50035,
                "Invalid Form Body",
                Some(username_taken_errors()),
            ),
            UsernameClaimError::Invalid(invalid) => {
                (400, 50035, "Invalid Form Body", Some(invalid.form_errors()))
            }
            UsernameClaimError::MissingAccess => (403, 50001, "Missing Access", None),
            UsernameClaimError::NotClaimed => (404, 10013, "Unknown User", None),
        };
        Refusal {
            status,
            error: ApiError {
                code,
                message: message.to_owned(),
                errors,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::ids::UserId;
    use cloudcord_schemas::username_claim::{
        InvalidUsername, UsernameClaimCommand, UsernameClaimEvent, UsernameClaimed,
        UsernameReleased,
    };
    use cqrs_es::test::TestFramework;
    use serde_json::json;
    use time::macros::datetime;

    use super::{UsernameClaim, UsernameClaimError};
    use crate::aggregates::{Decider, Domain, decide};

    const NELLY: UserId = UserId::new(10);
    const OTHER: UserId = UserId::new(20);

    fn by(actor: Actor, command: UsernameClaimCommand) -> Authored<UsernameClaimCommand> {
        Authored {
            actor,
            at: datetime!(2026-11-28 12:00 UTC),
            command,
        }
    }

    fn claim(user_id: UserId) -> UsernameClaimCommand {
        UsernameClaimCommand::ClaimUsername {
            username: "nelly".into(),
            user_id,
        }
    }

    fn claimed() -> Domain<UsernameClaimEvent> {
        Domain(UsernameClaimEvent::UsernameClaimed(UsernameClaimed {
            username: "nelly".into(),
            user_id: NELLY,
        }))
    }

    fn released() -> Domain<UsernameClaimEvent> {
        Domain(UsernameClaimEvent::UsernameReleased(UsernameReleased {
            username: "nelly".into(),
            user_id: NELLY,
        }))
    }

    #[test]
    fn a_free_username_is_claimed_for_the_user() {
        TestFramework::<UsernameClaim>::with(())
            .given_no_previous_events()
            .when(by(Actor::User(NELLY), claim(NELLY)))
            .then_expect_events(vec![claimed()]);
    }

    #[test]
    fn a_username_claimed_by_someone_else_is_refused() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed()])
            .when(by(Actor::User(OTHER), claim(OTHER)))
            .then_expect_error(UsernameClaimError::Taken);
    }

    #[test]
    fn a_taken_username_is_refused_with_discords_form_error() {
        let refusal = UsernameClaim::refused(&UsernameClaimError::Taken);
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.error.code, 50035);
        assert_eq!(
            refusal.error.errors,
            Some(json!({"username": {"_errors": [{
                "code": "USERNAME_ALREADY_TAKEN",
                "message": "Username is unavailable. Try adding numbers, letters, underscores _ , or periods."
            }]}}))
        );
    }

    #[test]
    fn claiming_ones_own_username_again_changes_nothing() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed()])
            .when(by(Actor::System, claim(NELLY)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_released_username_can_be_claimed_by_someone_else() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed(), released()])
            .when(by(Actor::User(OTHER), claim(OTHER)))
            .then_expect_events(vec![Domain(UsernameClaimEvent::UsernameClaimed(
                UsernameClaimed {
                    username: "nelly".into(),
                    user_id: OTHER,
                },
            ))]);
    }

    #[test]
    fn a_claim_id_collision_with_another_name_counts_as_taken() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed(), released()])
            .when(by(
                Actor::User(OTHER),
                UsernameClaimCommand::ClaimUsername {
                    username: "wumpus".into(),
                    user_id: OTHER,
                },
            ))
            .then_expect_error(UsernameClaimError::Taken);
    }

    #[test]
    fn only_normalized_valid_usernames_are_claimed() {
        for (username, why) in [
            ("Nelly", InvalidUsername::InvalidCharacters),
            ("x", InvalidUsername::BadLength),
            ("ne..lly", InvalidUsername::ConsecutivePeriods),
        ] {
            TestFramework::<UsernameClaim>::with(())
                .given_no_previous_events()
                .when(by(
                    Actor::User(NELLY),
                    UsernameClaimCommand::ClaimUsername {
                        username: username.into(),
                        user_id: NELLY,
                    },
                ))
                .then_expect_error(UsernameClaimError::Invalid(why));
        }
    }

    #[test]
    fn nobody_claims_a_username_for_someone_else() {
        TestFramework::<UsernameClaim>::with(())
            .given_no_previous_events()
            .when(by(Actor::User(OTHER), claim(NELLY)))
            .then_expect_error(UsernameClaimError::MissingAccess);
    }

    #[test]
    fn only_the_holder_may_release_a_username() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed()])
            .when(by(
                Actor::User(OTHER),
                UsernameClaimCommand::ReleaseUsername,
            ))
            .then_expect_error(UsernameClaimError::MissingAccess);
    }

    #[test]
    fn the_holder_or_cloudcord_releases_a_username() {
        for actor in [Actor::User(NELLY), Actor::System] {
            TestFramework::<UsernameClaim>::with(())
                .given(vec![claimed()])
                .when(by(actor, UsernameClaimCommand::ReleaseUsername))
                .then_expect_events(vec![released()]);
        }
    }

    #[test]
    fn releasing_an_unclaimed_username_is_refused() {
        TestFramework::<UsernameClaim>::with(())
            .given(vec![claimed(), released()])
            .when(by(Actor::System, UsernameClaimCommand::ReleaseUsername))
            .then_expect_error(UsernameClaimError::NotClaimed);
    }

    #[test]
    fn an_accepted_claim_answers_with_its_holder() {
        let mut claim_state = UsernameClaim::default();
        let (events, accepted) = decide(&mut claim_state, by(Actor::User(NELLY), claim(NELLY)))
            .expect("a free name is claimed");
        assert_eq!(events.len(), 1);
        assert_eq!(claim_state.holder(), Some(NELLY));
        assert_eq!(
            accepted.body,
            Some(json!({"username": "nelly", "user_id": "10"}))
        );
    }
}

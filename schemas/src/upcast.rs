//! Upcasters: how an event stored at an old version is read by today's code.
//!
//! Events are kept forever, so every version ever published must keep decoding.
//! When an event type's layout changes incompatibly, its version goes up by one
//! (in [`event_enum!`](crate::event_enum)) and one [`Upcaster`] is added here that
//! lifts a payload from the old version to the next. [`to_current`] applies them in
//! order — v1 → v2 → … → current — on the JSON, before it is decoded into the
//! aggregate's event enum, so the Rust types only ever describe the current layout.
//!
//! The payload an upcaster receives and returns is the envelope's `event` object,
//! `"type"` tag included. The version of a stored event is not in its record value:
//! it travels in the record's `ce_type` header (`dev.cloudcord.guild.GuildCreated.v1`).
//!
//! No event type has a second version yet, so [`UPCASTERS`] is empty; the unit tests
//! below prove the mechanism on a fictional event with a registry of their own.

use serde_json::Value;

use crate::catalog;
use crate::envelope::AggregateType;

/// Lifts one payload from its version to the next.
pub type UpcastFn = fn(Value) -> Result<Value, UpcastError>;

/// One step in one event type's history.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    /// The aggregate type.
    pub aggregate: AggregateType,
    /// The event type name, e.g. `GuildCreated`.
    pub event_type: &'static str,
    /// The version this step reads; it returns `from_version + 1`.
    pub from_version: u32,
    /// The step.
    pub upcast: UpcastFn,
}

/// Every production upcaster, one per (aggregate, event type, old version).
///
/// Add a step here whenever an event type's version is bumped (see
/// `schemas/README.md`, "Adding a version"); a test fails while one is missing.
pub const UPCASTERS: &[Upcaster] = &[];

/// Why a stored event could not be lifted to its current version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    /// The code knows no such event type.
    #[error("{}/{event_type} is not an event type this build knows", .aggregate.as_str())]
    UnknownEventType {
        /// The aggregate type.
        aggregate: AggregateType,
        /// The event type name.
        event_type: String,
    },
    /// The version is 0 or newer than the code's (an old consumer reading a newer
    /// producer's events: upgrade the consumer).
    #[error(
        "{}/{event_type} v{version} is not a version this build knows (v1 to v{current})",
        .aggregate.as_str()
    )]
    UnknownVersion {
        /// The aggregate type.
        aggregate: AggregateType,
        /// The event type name.
        event_type: String,
        /// The stored version.
        version: u32,
        /// The code's current version.
        current: u32,
    },
    /// A version was bumped without its upcaster.
    #[error("no upcaster lifts {}/{event_type} from v{from_version}", .aggregate.as_str())]
    MissingUpcaster {
        /// The aggregate type.
        aggregate: AggregateType,
        /// The event type name.
        event_type: String,
        /// The version with no way forward.
        from_version: u32,
    },
    /// The payload does not have the layout its version promises.
    #[error("the payload does not fit its version: {0}")]
    Malformed(String),
}

/// A set of upcasters; [`Registry::production`] is the one the code reads with.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    steps: &'static [Upcaster],
}

impl Registry {
    /// A registry of these steps.
    pub const fn new(steps: &'static [Upcaster]) -> Self {
        Self { steps }
    }

    /// The registry of [`UPCASTERS`].
    pub const fn production() -> Self {
        Self::new(UPCASTERS)
    }

    /// The step that reads `from_version` of an event type, if any.
    pub fn step(
        &self,
        aggregate: AggregateType,
        event_type: &str,
        from_version: u32,
    ) -> Option<&Upcaster> {
        self.steps.iter().find(|step| {
            step.aggregate == aggregate
                && step.event_type == event_type
                && step.from_version == from_version
        })
    }

    /// Lifts `value` from `version` to `current`, one step at a time.
    pub fn lift(
        &self,
        aggregate: AggregateType,
        event_type: &str,
        version: u32,
        current: u32,
        mut value: Value,
    ) -> Result<Value, UpcastError> {
        if version == 0 || version > current {
            return Err(UpcastError::UnknownVersion {
                aggregate,
                event_type: event_type.to_owned(),
                version,
                current,
            });
        }
        for from_version in version..current {
            let step = self
                .step(aggregate, event_type, from_version)
                .ok_or_else(|| UpcastError::MissingUpcaster {
                    aggregate,
                    event_type: event_type.to_owned(),
                    from_version,
                })?;
            value = (step.upcast)(value)?;
        }
        Ok(value)
    }
}

/// [`to_current`] for an event payload as stored in an envelope, whose `type` field
/// names its event type.
pub fn lift(aggregate: AggregateType, version: u32, value: Value) -> Result<Value, UpcastError> {
    let event_type = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    to_current(aggregate, &event_type, version, value)
}

/// Lifts a stored event payload at `version` to the current version of its event
/// type with the production registry, ready to decode into the aggregate's enum
/// (e.g. with [`catalog::decode_current`]).
pub fn to_current(
    aggregate: AggregateType,
    event_type: &str,
    version: u32,
    value: Value,
) -> Result<Value, UpcastError> {
    let current = catalog::current_version(aggregate, event_type).ok_or_else(|| {
        UpcastError::UnknownEventType {
            aggregate,
            event_type: event_type.to_owned(),
        }
    })?;
    Registry::production().lift(aggregate, event_type, version, current, value)
}

/// Renames a field of a payload object: the commonest upcaster step.
pub fn rename_field(mut value: Value, from: &str, to: &str) -> Result<Value, UpcastError> {
    let object = value
        .as_object_mut()
        .ok_or_else(|| UpcastError::Malformed("the payload is not an object".to_owned()))?;
    let field = object
        .remove(from)
        .ok_or_else(|| UpcastError::Malformed(format!("the payload has no `{from}`")))?;
    object.insert(to.to_owned(), field);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::{Registry, UpcastError, Upcaster, rename_field, to_current};
    use crate::catalog;
    use crate::envelope::AggregateType;

    /// A fictional event whose v1 called the field `title` and v2 `name`, and whose
    /// v3 added `topic` with a default.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type")]
    enum SampleEvent {
        SampleRenamed { name: String, topic: String },
    }

    fn v1_to_v2(value: Value) -> Result<Value, UpcastError> {
        rename_field(value, "title", "name")
    }

    fn v2_to_v3(mut value: Value) -> Result<Value, UpcastError> {
        value
            .as_object_mut()
            .ok_or_else(|| UpcastError::Malformed("not an object".to_owned()))?
            .insert("topic".to_owned(), json!(""));
        Ok(value)
    }

    const SAMPLE: &[Upcaster] = &[
        Upcaster {
            aggregate: AggregateType::Guild,
            event_type: "SampleRenamed",
            from_version: 2,
            upcast: v2_to_v3,
        },
        Upcaster {
            aggregate: AggregateType::Guild,
            event_type: "SampleRenamed",
            from_version: 1,
            upcast: v1_to_v2,
        },
    ];

    fn lift(version: u32, value: Value) -> Result<Value, UpcastError> {
        Registry::new(SAMPLE).lift(AggregateType::Guild, "SampleRenamed", version, 3, value)
    }

    #[test]
    fn old_versions_are_lifted_step_by_step_in_order() {
        let v1 = json!({"type": "SampleRenamed", "title": "general"});
        let current = lift(1, v1).expect("v1 lifts");
        assert_eq!(
            serde_json::from_value::<SampleEvent>(current).expect("decodes"),
            SampleEvent::SampleRenamed {
                name: "general".to_owned(),
                topic: String::new(),
            }
        );
        let v2 = json!({"type": "SampleRenamed", "name": "general"});
        assert_eq!(
            lift(2, v2).expect("v2 lifts"),
            json!({"type": "SampleRenamed", "name": "general", "topic": ""})
        );
    }

    #[test]
    fn the_current_version_passes_through_unchanged() {
        let v3 = json!({"type": "SampleRenamed", "name": "a", "topic": "b"});
        assert_eq!(lift(3, v3.clone()).expect("current"), v3);
    }

    #[test]
    fn unknown_versions_are_refused() {
        for version in [0, 4] {
            assert!(matches!(
                lift(version, json!({})),
                Err(UpcastError::UnknownVersion { version: v, current: 3, .. }) if v == version
            ));
        }
    }

    #[test]
    fn a_version_without_its_upcaster_is_an_error_not_a_guess() {
        let registry = Registry::new(&SAMPLE[..1]);
        let lifted = registry.lift(AggregateType::Guild, "SampleRenamed", 1, 3, json!({}));
        assert!(matches!(
            lifted,
            Err(UpcastError::MissingUpcaster {
                from_version: 1,
                ..
            })
        ));
    }

    #[test]
    fn a_payload_that_does_not_fit_its_version_is_malformed() {
        let lifted = lift(1, json!({"type": "SampleRenamed", "name": "x"}));
        assert!(matches!(lifted, Err(UpcastError::Malformed(_))));
    }

    #[test]
    fn unknown_event_types_are_refused() {
        assert!(matches!(
            to_current(AggregateType::Guild, "SampleRenamed", 1, json!({})),
            Err(UpcastError::UnknownEventType { .. })
        ));
    }

    #[test]
    fn the_production_registry_lifts_every_old_version_to_the_current_one() {
        let registry = Registry::production();
        let mut missing = Vec::new();
        for (aggregate, entries) in catalog::aggregates() {
            for entry in entries {
                for from_version in 1..entry.version {
                    if registry.step(aggregate, entry.name, from_version).is_none() {
                        missing.push(format!(
                            "{}/{} v{from_version} -> v{}",
                            aggregate.as_str(),
                            entry.name,
                            from_version + 1
                        ));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "add these upcasters to UPCASTERS in schemas/src/upcast.rs \
             (see schemas/README.md, \"Adding a version\"):\n  {}",
            missing.join("\n  ")
        );
    }

    #[test]
    fn the_production_registry_has_no_duplicate_or_stray_steps() {
        let steps = Registry::production().steps;
        for (i, step) in steps.iter().enumerate() {
            let current = catalog::current_version(step.aggregate, step.event_type);
            assert!(
                current
                    .is_some_and(|current| step.from_version >= 1 && step.from_version < current),
                "{}/{} v{} is not an old version of a current event type",
                step.aggregate.as_str(),
                step.event_type,
                step.from_version
            );
            assert!(
                !steps[..i]
                    .iter()
                    .any(|other| other.aggregate == step.aggregate
                        && other.event_type == step.event_type
                        && other.from_version == step.from_version),
                "two upcasters for {}/{} v{}",
                step.aggregate.as_str(),
                step.event_type,
                step.from_version
            );
        }
    }
}

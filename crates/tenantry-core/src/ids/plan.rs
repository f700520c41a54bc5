//! Plan ids: `free`, `standard`, `premium`, ...

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a plan id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanIdError {
    #[error("plan id must be 1–32 characters, got {0}")]
    Length(usize),
    #[error(
        "plan id may contain only lowercase letters a–z, digits 0–9, '-' and '_' (found {0:?})"
    )]
    Character(char),
    #[error("plan id must start with a lowercase letter or a digit")]
    Start,
}

/// The id of a plan (`free`, `standard`, ...): `[a-z0-9][a-z0-9_-]{0,31}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlanId(String);

impl PlanId {
    pub fn parse(s: &str) -> Result<Self, PlanIdError> {
        let len = s.chars().count();
        if !(1..=32).contains(&len) {
            return Err(PlanIdError::Length(len));
        }
        if let Some(found) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(PlanIdError::Character(found));
        }
        if s.starts_with(['-', '_']) {
            return Err(PlanIdError::Start);
        }
        Ok(Self(s.to_owned()))
    }

    /// A plan id read back from the master (validated when it was written).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PlanId {
    type Err = PlanIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PlanId {
    type Error = PlanIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PlanId> for String {
    fn from(id: PlanId) -> Self {
        id.0
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

//! What one `tally serve` process does: `capture` (the capture routes, handing
//! events to the queue), `worker` (consumes the queue into the event store),
//! `api` (query API, dashboard, accounts, live stream), any combination of
//! them, or `all` (the default: the embedded deployment, one process).

use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub capture: bool,
    pub worker: bool,
    pub api: bool,
}

impl Roles {
    pub const ALL: Self = Self {
        capture: true,
        worker: true,
        api: true,
    };

    /// `all`, or a comma-separated list of `capture`, `worker`, `api`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut roles = Self {
            capture: false,
            worker: false,
            api: false,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "all" => roles = Self::ALL,
                "capture" => roles.capture = true,
                "worker" => roles.worker = true,
                "api" => roles.api = true,
                other => {
                    return Err(format!(
                        "`{other}` is not a role (all, capture, worker, api)"
                    ))
                }
            }
        }
        if roles
            == (Self {
                capture: false,
                worker: false,
                api: false,
            })
        {
            return Err("no role given (all, capture, worker, api)".into());
        }
        Ok(roles)
    }

    pub fn is_all(&self) -> bool {
        *self == Self::ALL
    }

    /// Nodes with a worker or the API open the event store; capture-only nodes
    /// open none and keep nothing on local disk.
    pub fn opens_event_store(&self) -> bool {
        self.worker || self.api
    }
}

impl Default for Roles {
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = [
            (self.capture, "capture"),
            (self.worker, "worker"),
            (self.api, "api"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_alone_combined_and_all() {
        assert_eq!(Roles::parse("all").unwrap(), Roles::ALL);
        let capture_api = Roles::parse("capture, API").unwrap();
        assert!(capture_api.capture && capture_api.api && !capture_api.worker);
        assert_eq!(capture_api.to_string(), "capture,api");
        assert!(!Roles::parse("capture").unwrap().opens_event_store());
        assert!(Roles::parse("worker").unwrap().opens_event_store());
        assert_eq!(Roles::parse("capture,worker,api").unwrap(), Roles::ALL);
        assert!(Roles::parse("").is_err());
        assert!(Roles::parse("capture,storage")
            .unwrap_err()
            .contains("storage"));
    }
}

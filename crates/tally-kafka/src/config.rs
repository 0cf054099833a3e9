//! Where the broker is and how to talk to it: `kafka://host1:9092,host2:9092/topic?…`
//! plus the settings a deployment needs (client id, consumer group, TLS, SASL),
//! from the config file's `[kafka]` table or `TALLY_KAFKA_*` variables; the URL's
//! query parameters (same names) win over both.
//!
//! Guarantee: every producer Tally makes is idempotent with `acks=all`, and no
//! consumer commits offsets by itself; those settings are not configurable.

use rdkafka::ClientConfig;
use serde::Deserialize;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("queue URL {0}: must look like kafka://host:9092[,host2:9092]/topic")]
    Url(String),
    #[error("queue URL parameter `{0}` is not a Kafka setting Tally knows")]
    UnknownParameter(String),
    #[error("kafka setting {name}={value}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

/// Settings beside the URL: the config file's `[kafka]` table, `TALLY_KAFKA_*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// The topic events travel on (the URL's path wins).
    pub topic: String,
    /// `client.id` the broker logs and quotas see.
    pub client_id: String,
    /// The workers' consumer group: workers of one deployment share it.
    pub group_id: String,
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with a `sasl_*` protocol).
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (`ssl`,
    /// `sasl_ssl`); unset: the system's CAs.
    pub ssl_ca_location: Option<String>,
    /// Partitions of the topic when Tally creates it (an existing topic is left
    /// as it is). One person's events stay on one partition; workers share
    /// partitions, so this is also the most workers that can be busy at once.
    pub partitions: i32,
    /// How long a capture request waits for the broker to acknowledge its
    /// events before it is answered 503 (ms).
    pub delivery_timeout_ms: u64,
    /// Events behind the end of the topic (summed over the worker's partitions)
    /// past which a worker's `/ready` answers 503.
    pub max_ready_lag: u64,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            topic: "tally-events".into(),
            client_id: "tally".into(),
            group_id: "tally-workers".into(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            partitions: 12,
            delivery_timeout_ms: 5_000,
            max_ready_lag: 1_000_000,
        }
    }
}

impl KafkaSettings {
    /// Applies the `TALLY_KAFKA_*` variables that are set.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for name in PARAMETERS {
            let env_name = format!("TALLY_KAFKA_{}", name.to_ascii_uppercase());
            if let Some(value) = var(&env_name) {
                self.set(name, &value)?;
            }
        }
        Ok(())
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let number = |name: &'static str, value: &str| {
            value.parse::<u64>().map_err(|_| ConfigError::Invalid {
                name,
                value: value.to_owned(),
                why: "not a number",
            })
        };
        let text = || value.to_owned();
        match name {
            "topic" => self.topic = text(),
            "client_id" => self.client_id = text(),
            "group_id" => self.group_id = text(),
            "security_protocol" => self.security_protocol = value.to_ascii_lowercase(),
            "sasl_mechanism" => self.sasl_mechanism = Some(text()),
            "sasl_username" => self.sasl_username = Some(text()),
            "sasl_password" => self.sasl_password = Some(text()),
            "ssl_ca_location" => self.ssl_ca_location = Some(text()),
            "partitions" => {
                self.partitions = i32::try_from(number("partitions", value)?).map_err(|_| {
                    ConfigError::Invalid {
                        name: "partitions",
                        value: text(),
                        why: "too large",
                    }
                })?
            }
            "delivery_timeout_ms" => {
                self.delivery_timeout_ms = number("delivery_timeout_ms", value)?
            }
            "max_ready_lag" => self.max_ready_lag = number("max_ready_lag", value)?,
            other => return Err(ConfigError::UnknownParameter(other.to_owned())),
        }
        Ok(())
    }
}

/// The settings' names, as URL parameters and (upper-cased) after `TALLY_KAFKA_`.
const PARAMETERS: [&str; 11] = [
    "topic",
    "client_id",
    "group_id",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "partitions",
    "delivery_timeout_ms",
    "max_ready_lag",
];

/// A parsed, checked queue configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port` of each bootstrap broker.
    pub brokers: Vec<String>,
    pub settings: KafkaSettings,
}

impl std::fmt::Debug for KafkaConfig {
    /// Never prints the SASL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.settings.topic)
            .field("group_id", &self.settings.group_id)
            .field("security_protocol", &self.settings.security_protocol)
            .finish_non_exhaustive()
    }
}

impl KafkaConfig {
    /// `kafka://host1:9092,host2:9092/topic?name=value&…` over `settings`.
    pub fn from_url(url: &str, settings: &KafkaSettings) -> Result<Self, ConfigError> {
        let bad = || ConfigError::Url(redacted(url));
        let rest = url.strip_prefix("kafka://").ok_or_else(bad)?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, topic) = location.split_once('/').unwrap_or((location, ""));
        let brokers: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        let well_formed = |h: &String| {
            h.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        };
        if brokers.is_empty() || !brokers.iter().all(well_formed) {
            return Err(bad());
        }
        let mut settings = settings.clone();
        if !topic.is_empty() {
            settings.topic = topic.to_owned();
        }
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            settings.set(&name, &value)?;
        }
        // A config file's value comes in as written: `SASL_SSL` is `sasl_ssl`.
        settings.security_protocol = settings.security_protocol.to_ascii_lowercase();
        let config = Self { brokers, settings };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let invalid = |name, value: &str, why| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            why,
        };
        let topic_ok = !s.topic.is_empty()
            && s.topic.len() <= 249
            && s.topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !topic_ok {
            return Err(invalid("topic", &s.topic, "letters, digits, `.`, `_`, `-`"));
        }
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
            .contains(&s.security_protocol.as_str())
        {
            return Err(invalid(
                "security_protocol",
                &s.security_protocol,
                "plaintext, ssl, sasl_plaintext or sasl_ssl",
            ));
        }
        if s.security_protocol.starts_with("sasl") && s.sasl_mechanism.is_none() {
            return Err(invalid(
                "sasl_mechanism",
                "",
                "required with a sasl_* security_protocol",
            ));
        }
        if s.partitions < 1 {
            return Err(invalid(
                "partitions",
                &s.partitions.to_string(),
                "at least 1",
            ));
        }
        if s.delivery_timeout_ms == 0 {
            return Err(invalid("delivery_timeout_ms", "0", "at least 1"));
        }
        Ok(())
    }

    /// How long capture waits for the broker's acknowledgement.
    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.delivery_timeout_ms)
    }

    /// What every client shares: brokers, identity, TLS and SASL.
    pub(crate) fn client(&self) -> ClientConfig {
        let s = &self.settings;
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", &s.client_id)
            .set("security.protocol", &s.security_protocol);
        let optional = [
            ("sasl.mechanisms", &s.sasl_mechanism),
            ("sasl.username", &s.sasl_username),
            ("sasl.password", &s.sasl_password),
            ("ssl.ca.location", &s.ssl_ca_location),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                c.set(key, value);
            }
        }
        c
    }
}

/// The URL without its query (which may hold a password), for error messages.
fn redacted(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_topic_and_parameters_from_the_url() {
        let c = KafkaConfig::from_url(
            "kafka://k1:9092, k2:9093/events-v1?group_id=g&security_protocol=SASL_SSL&sasl_mechanism=SCRAM-SHA-512&sasl_password=p%26q",
            &KafkaSettings::default(),
        )
        .unwrap();
        assert_eq!(c.brokers, ["k1:9092", "k2:9093"]);
        assert_eq!(c.settings.topic, "events-v1");
        assert_eq!(c.settings.group_id, "g");
        assert_eq!(c.settings.security_protocol, "sasl_ssl");
        assert_eq!(c.settings.sasl_password.as_deref(), Some("p&q"));
        assert!(
            !format!("{c:?}").contains("p&q"),
            "Debug hides the password"
        );
        let plain = KafkaConfig::from_url("kafka://k1:9092", &KafkaSettings::default()).unwrap();
        assert_eq!(plain.settings.topic, "tally-events");
    }

    #[test]
    fn environment_under_the_url() {
        let mut s = KafkaSettings::default();
        s.apply_env(|name| match name {
            "TALLY_KAFKA_TOPIC" => Some("from-env".into()),
            "TALLY_KAFKA_PARTITIONS" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((s.topic.as_str(), s.partitions), ("from-env", 3));
        let c = KafkaConfig::from_url("kafka://k:1/from-url", &s).unwrap();
        assert_eq!(
            (c.settings.topic.as_str(), c.settings.partitions),
            ("from-url", 3)
        );
        // As a config file writes it: upper case is the same protocol.
        let file = KafkaSettings {
            security_protocol: "SASL_SSL".into(),
            sasl_mechanism: Some("PLAIN".into()),
            ..KafkaSettings::default()
        };
        let c = KafkaConfig::from_url("kafka://k:1/t", &file).unwrap();
        assert_eq!(c.settings.security_protocol, "sasl_ssl");
        let bad = s.apply_env(|name| (name == "TALLY_KAFKA_PARTITIONS").then(|| "many".into()));
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                name: "partitions",
                ..
            })
        ));
    }

    #[test]
    fn malformed_urls_and_settings_are_refused() {
        let s = KafkaSettings::default();
        for url in [
            "http://k:9092/t",
            "kafka://",
            "kafka://k/t",
            "kafka://k:port/t",
            "kafka://:9092/t",
        ] {
            assert!(
                matches!(KafkaConfig::from_url(url, &s), Err(ConfigError::Url(_))),
                "{url}"
            );
        }
        assert_eq!(
            KafkaConfig::from_url("kafka://k:1/t?colour=red", &s),
            Err(ConfigError::UnknownParameter("colour".into()))
        );
        assert!(KafkaConfig::from_url("kafka://k:1/bad topic", &s).is_err());
        assert!(KafkaConfig::from_url("kafka://k:1/t?security_protocol=sasl_ssl", &s).is_err());
        assert!(KafkaConfig::from_url("kafka://k:1/t?partitions=0", &s).is_err());
        let err = KafkaConfig::from_url("nope://k:1/t?sasl_password=secret", &s).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

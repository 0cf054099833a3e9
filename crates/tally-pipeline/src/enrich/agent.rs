//! The user agent an SDK reported (`$raw_user_agent`, else `$user_agent`) →
//! browser, browser version, OS, OS version, device type (desktop, mobile, tablet,
//! bot) and whether the client is a bot.
//!
//! Parsing is the `woothee` crate's (its dataset is compiled in, so nothing is
//! loaded at run time). On top of it, rules it lacks: tablets (iPad, Android
//! without "Mobile"), headless and automated browsers, and clients that are not
//! browsers at all (HTTP libraries, unknown agents without `Mozilla/`) count as
//! bots. Guarantees: pure; an event without a user agent is left untouched — a
//! server-side event is not a bot.
//!
//! Apps are not browsers: PostHog's mobile SDKs (and Flutter, React Native on
//! top of them) describe the device themselves with `$os_name`, `$os_version`
//! and `$device_type`, and their `$user_agent`, if any, is the platform's HTTP
//! stack (`Dalvik/2.1.0 (Linux; U; Android 14; …)`), which lacks the "Mobile"
//! that tells a phone from a tablet and names no OS at all on iOS. For an event
//! that declares `$os_name`, the declaration is believed and the agent is only
//! searched for automation markers.

use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;
use tally_core::Properties;
use woothee::parser::Parser;

static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

/// Substrings (lowercase) of user agents that are automation, not people.
const AUTOMATION_MARKERS: [&str; 11] = [
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "lighthouse",
    "pagespeed",
    "prerender",
    "crawler",
    "spider",
    "slurp",
];

/// What a user agent says about its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    /// `desktop`, `mobile`, `tablet` or `bot`; `None` when unknown.
    pub device: Option<&'static str>,
    pub is_bot: bool,
}

fn known(value: &str) -> Option<String> {
    (!value.is_empty() && value != "UNKNOWN").then(|| value.to_owned())
}

/// Whether a word of the agent names a bot (`Googlebot`, `AhrefsBot`); the
/// phone brand Cubot is not one.
fn has_bot_word(lower: &str) -> bool {
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.ends_with("bot") && word != "cubot")
}

/// Whether a (lowercase) agent names automation or a bot.
fn is_automated(lower: &str) -> bool {
    AUTOMATION_MARKERS.iter().any(|m| lower.contains(m)) || has_bot_word(lower)
}

/// Reads a user agent string.
pub fn parse(user_agent: &str) -> Agent {
    let lower = user_agent.to_ascii_lowercase();
    let automated = is_automated(&lower);
    let Some(found) = PARSER.parse(user_agent) else {
        // Not a browser woothee knows: a browser-like agent is a person on an odd
        // browser; anything else (python-requests, Go-http-client…) is a program.
        let is_bot = automated || !lower.starts_with("mozilla/");
        return Agent {
            browser: None,
            browser_version: None,
            os: None,
            os_version: None,
            device: is_bot.then_some("bot"),
            is_bot,
        };
    };
    let is_bot = automated || matches!(found.category, "crawler" | "misc");
    let tablet = lower.contains("ipad")
        || lower.contains("tablet")
        || (lower.contains("android") && !lower.contains("mobile"));
    let device = if is_bot {
        Some("bot")
    } else {
        match found.category {
            "pc" => Some("desktop"),
            "smartphone" | "mobilephone" if tablet => Some("tablet"),
            "smartphone" | "mobilephone" => Some("mobile"),
            "appliance" => Some("desktop"),
            _ => None,
        }
    };
    // Headless Chrome is reported as Chrome; say what it is.
    let browser = if lower.contains("headlesschrome") {
        Some("Headless Chrome".to_owned())
    } else {
        known(found.name)
    };
    Agent {
        browser,
        browser_version: known(found.version),
        os: known(found.os),
        os_version: known(&found.os_version),
        device,
        is_bot,
    }
}

/// The user agent an event carries, if any.
pub fn user_agent(props: &Properties) -> Option<Cow<'_, str>> {
    ["$raw_user_agent", "$user_agent"]
        .iter()
        .find_map(|k| props.get_str(k))
        .filter(|ua| !ua.trim().is_empty())
}

/// The device an app SDK declares (`$os_name` present), as an [`Agent`]: no
/// browser, the declared OS and version, `$device_type` in Tally's lowercase
/// vocabulary; a bot only if the HTTP agent it also reports names automation.
pub fn declared_by_app(props: &Properties) -> Option<Agent> {
    let os = props.get_str("$os_name")?;
    let os = os.trim();
    if os.is_empty() {
        return None;
    }
    let os_version = match props.get("$os_version") {
        Some(Value::String(v)) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let is_bot = user_agent(props).is_some_and(|ua| is_automated(&ua.to_ascii_lowercase()));
    let declared = props
        .get_str("$device_type")
        .map(|d| d.to_ascii_lowercase());
    let device = match declared.as_deref() {
        _ if is_bot => Some("bot"),
        Some("mobile" | "phone" | "smartphone") => Some("mobile"),
        Some("tablet") => Some("tablet"),
        Some("desktop") => Some("desktop"),
        Some("tv") => Some("tv"),
        Some("wearable" | "watch") => Some("wearable"),
        _ => None,
    };
    Some(Agent {
        browser: None,
        browser_version: None,
        os: Some(os.to_owned()),
        os_version,
        device,
        is_bot,
    })
}

/// Adds `$browser`, `$browser_version`, `$os`, `$os_version`, `$device_type` to
/// `props` where the SDK did not set them, and returns what the agent (or, for
/// an app, the SDK's declaration) says. `seen` remembers agents already parsed
/// (the caller bounds its lifetime).
pub fn enrich(props: &mut Properties, seen: &mut HashMap<String, Agent>) -> Option<Agent> {
    let agent = match declared_by_app(props) {
        Some(app) => app,
        None => {
            let ua = user_agent(props)?;
            match seen.get(&*ua) {
                Some(agent) => agent.clone(),
                None => {
                    let agent = parse(&ua);
                    seen.insert(ua.into_owned(), agent.clone());
                    agent
                }
            }
        }
    };
    let mut fill = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|_| !props.contains_key(key)) {
            props.insert_str(key, v);
        }
    };
    fill("$browser", agent.browser.as_deref());
    fill("$browser_version", agent.browser_version.as_deref());
    fill("$os", agent.os.as_deref());
    fill("$os_version", agent.os_version.as_deref());
    fill("$device_type", agent.device);
    Some(agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props_of(v: Value) -> Properties {
        Properties::from_map(v.as_object().unwrap())
    }
    use serde_json::json;

    /// (user agent, browser, browser version, os, os version, device, bot)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        bool,
    );

    const CASES: &[Case] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            Some("Chrome"), Some("131.0.0.0"), Some("Windows 10"), Some("NT 10.0"), Some("desktop"), false,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            Some("Edge"), Some("131.0.2903.86"), Some("Windows 10"), Some("NT 10.0"), Some("desktop"), false,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            Some("Safari"), Some("17.5"), Some("iPhone"), Some("17.5"), Some("mobile"), false,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            Some("Safari"), Some("17.5"), Some("iPad"), Some("17.5"), Some("tablet"), false,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            Some("Chrome"), Some("131.0.0.0"), Some("Android"), Some("14"), Some("mobile"), false,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            Some("Chrome"), Some("131.0.0.0"), Some("Android"), Some("13"), Some("tablet"), false,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            Some("Firefox"), Some("133.0"), Some("Linux"), None, Some("desktop"), false,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            Some("Safari"), Some("18.1"), Some("Mac OSX"), Some("10.15.7"), Some("desktop"), false,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"), None, None, None, Some("bot"), true,
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            Some("bingbot"), None, None, None, Some("bot"), true,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            Some("Headless Chrome"), Some("156.0.0.0"), Some("Linux"), None, Some("bot"), true,
        ),
        ("curl/8.5.0", Some("HTTP Library"), Some("curl"), None, None, Some("bot"), true),
        ("python-requests/2.32.3", None, None, None, None, Some("bot"), true),
        ("Mozilla/5.0 (SomethingNew 1.0)", None, None, None, None, None, false),
        (
            "Mozilla/5.0 (compatible; ExampleStatsBot/1.0; +https://stats.example/bot)",
            Some("misc crawler"), None, None, None, Some("bot"), true,
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            Some("Chrome"), Some("120.0.0.0"), Some("Android"), Some("12"), Some("mobile"), false,
        ),
    ];

    #[test]
    fn user_agents_are_read() {
        for &(ua, browser, version, os, os_version, device, bot) in CASES {
            let a = parse(ua);
            let got = (
                a.browser.as_deref(),
                a.browser_version.as_deref(),
                a.os.as_deref(),
                a.os_version.as_deref(),
                a.device,
                a.is_bot,
            );
            assert_eq!(got, (browser, version, os, os_version, device, bot), "{ua}");
        }
    }

    #[test]
    fn bot_words() {
        assert!(has_bot_word(
            "mozilla/5.0 (compatible; examplestatsbot/1.0)"
        ));
        assert!(has_bot_word("ahrefsbot/7.0"));
        assert!(!has_bot_word("mozilla/5.0 (linux; android 12; cubot x30)"));
        assert!(!has_bot_word(
            "mozilla/5.0 (x11; linux x86_64) robotframework-free"
        ));
    }

    #[test]
    fn properties_are_filled_where_the_sdk_left_them_empty() {
        let mut props = props_of(json!({
            "$raw_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "$browser": "Mobile Safari",
        }));
        let agent = enrich(&mut props, &mut HashMap::new()).unwrap();
        assert!(!agent.is_bot);
        assert_eq!(
            props.get("$browser").unwrap(),
            "Mobile Safari",
            "the SDK's value is kept"
        );
        assert_eq!(props.get("$browser_version").unwrap(), "17.5");
        assert_eq!(props.get("$os").unwrap(), "iPhone");
        assert_eq!(props.get("$device_type").unwrap(), "mobile");
    }

    #[test]
    fn an_app_is_what_its_sdk_declares_not_a_bot() {
        let dalvik = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7a Build/UQ1A.240205.004)";
        assert_eq!(
            parse(dalvik).device,
            Some("tablet"),
            "alone, a phone looks like a tablet"
        );
        let mut props = props_of(json!({
            "$os_name": "Android", "$os_version": "14", "$device_type": "Mobile",
            "$user_agent": dalvik,
        }));
        let agent = enrich(&mut props, &mut HashMap::new()).unwrap();
        assert!(!agent.is_bot);
        assert_eq!(agent.os.as_deref(), Some("Android"));
        assert_eq!(agent.device, Some("mobile"));
        assert_eq!(agent.browser, None);
        assert_eq!(props.get("$os").unwrap(), "Android");
        assert_eq!(
            props.get("$device_type").unwrap(),
            "Mobile",
            "the SDK's value is kept"
        );

        // iOS sends no agent at all; a numeric version is still a version.
        let mut ios =
            props_of(json!({"$os_name": "iOS", "$os_version": 17, "$device_type": "Mobile"}));
        let agent = enrich(&mut ios, &mut HashMap::new()).unwrap();
        assert_eq!(
            (agent.os.as_deref(), agent.os_version.as_deref()),
            (Some("iOS"), Some("17"))
        );
        assert_eq!(agent.device, Some("mobile"));

        // An automated agent stays a bot whatever the properties claim.
        let mut fake = props_of(
            json!({"$os_name": "Android", "$user_agent": "Mozilla/5.0 HeadlessChrome/120"}),
        );
        assert!(enrich(&mut fake, &mut HashMap::new()).unwrap().is_bot);
    }

    #[test]
    fn no_user_agent_no_answer() {
        let mut props = props_of(json!({"plan": "pro", "$raw_user_agent": "  "}));
        assert_eq!(enrich(&mut props, &mut HashMap::new()), None);
        assert_eq!(props.len(), 2);
    }
}

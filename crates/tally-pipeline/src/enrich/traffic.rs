//! Where a visit came from, read from an event's URL and referrer: the host, the
//! referring domain, `utm_*` campaign parameters, ad click ids, and one channel
//! (direct, search, social, email, referral, paid). Sensitive query parameters
//! are removed from the stored URL.
//!
//! Guarantees:
//! - Pure: the same URL and referrer always give the same answer.
//! - Values the SDK already set (`utm_source` in properties, say) are kept; the
//!   URL only fills what is missing.
//! - A referrer on the page's own site is internal navigation, not a source: such
//!   an event is `direct` unless its URL carries a campaign.
//! - An event with neither URL nor referrer (a server-side event, say) is left
//!   untouched: it says nothing about where a visit came from.

use std::borrow::Cow;
use std::collections::HashMap;
use tally_core::Properties;
use url::Url;

/// Campaign parameters copied from the URL's query into properties.
pub const UTM_PARAMS: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

/// Ad click ids; any of them marks the visit as paid.
pub const CLICK_IDS: [&str; 8] = [
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "twclid",
    "li_fat_id",
];

/// Query parameters removed from stored URLs unless the project says otherwise:
/// credentials and one-time codes that some sites put in links.
pub const DEFAULT_SENSITIVE_PARAMS: [&str; 16] = [
    "password",
    "passwd",
    "pwd",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "auth",
    "api_key",
    "apikey",
    "secret",
    "client_secret",
    "code",
    "session",
    "sessionid",
    "session_id",
];

const SEARCH_ENGINES: [&str; 14] = [
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ecosia",
    "startpage",
    "qwant",
    "naver",
    "seznam",
    "ask",
    "aol",
    "kagi",
];

const SOCIAL_DOMAINS: [&str; 24] = [
    "facebook.com",
    "fb.com",
    "instagram.com",
    "t.co",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "youtube.com",
    "youtu.be",
    "pinterest.com",
    "tiktok.com",
    "threads.net",
    "bsky.app",
    "mastodon.social",
    "news.ycombinator.com",
    "t.me",
    "telegram.org",
    "discord.com",
    "whatsapp.com",
    "vk.com",
    "weibo.com",
    "quora.com",
];

const EMAIL_DOMAINS: [&str; 8] = [
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "mail.yahoo.com",
    "mail.proton.me",
    "app.fastmail.com",
    "mail.aol.com",
];

/// Where a visit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Direct,
    Search,
    Social,
    Email,
    Referral,
    Paid,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Search => "search",
            Self::Social => "social",
            Self::Email => "email",
            Self::Referral => "referral",
            Self::Paid => "paid",
        }
    }
}

/// A host without a leading `www.`, lowercased.
fn bare_host(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(host.strip_prefix("www.").unwrap_or(&host).to_owned())
}

/// Whether `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Whether `host` belongs to a search engine: a known engine name as a label
/// (`google.de`, `www.bing.com`, `search.yahoo.co.jp`) or `search.brave.com`.
fn is_search(host: &str) -> bool {
    within(host, "search.brave.com")
        || host.split('.').any(|label| SEARCH_ENGINES.contains(&label))
            && !host.starts_with("mail.")
}

/// The channel of a visit, from its referrer host (`None` when there is none or it
/// is the site itself) and campaign parameters.
pub fn classify(
    referrer_host: Option<&str>,
    utm_source: Option<&str>,
    utm_medium: Option<&str>,
    has_click_id: bool,
) -> Channel {
    let medium = utm_medium.unwrap_or("").to_ascii_lowercase();
    let source = utm_source.unwrap_or("").to_ascii_lowercase();
    let paid_medium = ["cpc", "ppc", "cpm", "cpv", "cpa", "display", "banner"]
        .contains(&medium.as_str())
        || medium.starts_with("paid");
    if has_click_id || paid_medium {
        return Channel::Paid;
    }
    if medium.contains("email") || medium == "newsletter" || source.contains("newsletter") {
        return Channel::Email;
    }
    if medium.contains("social") {
        return Channel::Social;
    }
    if medium == "organic" || medium == "search" {
        return Channel::Search;
    }
    match referrer_host {
        Some(h) if EMAIL_DOMAINS.iter().any(|d| within(h, d)) => Channel::Email,
        Some(h) if is_search(h) => Channel::Search,
        Some(h) if SOCIAL_DOMAINS.iter().any(|d| within(h, d)) => Channel::Social,
        Some(_) => Channel::Referral,
        None if !source.is_empty() || !medium.is_empty() => Channel::Referral,
        None => Channel::Direct,
    }
}

/// `url` without the sensitive query parameters; `None` when nothing was removed.
pub fn strip_sensitive(url: &Url, sensitive: &[String]) -> Option<Url> {
    let is_sensitive = |name: &str| sensitive.iter().any(|s| s.eq_ignore_ascii_case(name));
    // The common case, nothing to remove, allocates nothing.
    if !url.query_pairs().any(|(k, _)| is_sensitive(&k)) {
        return None;
    }
    let mut cleaned = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_sensitive(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        cleaned.set_query(None);
    } else {
        cleaned.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(cleaned)
}

/// What [`enrich`] found and changed.
#[derive(Debug, Default, PartialEq)]
pub struct Traffic {
    /// The URL with sensitive parameters removed, when any were.
    pub cleaned_url: Option<String>,
}

/// What a page URL gives every event on it, read once per URL by [`Lookups`].
#[derive(Debug, Clone)]
struct Page {
    /// The host as written in the URL, lower-cased (`$host`).
    host: Option<String>,
    /// The host without `www.`, to tell internal navigation from a referral.
    site: Option<String>,
    /// Non-empty campaign parameters and click ids, in query order.
    campaign: Vec<(String, String)>,
    /// The URL without its sensitive parameters, when it had any.
    cleaned_url: Option<String>,
}

impl Page {
    fn read(url: &str, sensitive: &[String]) -> Option<Self> {
        let page = Url::parse(url).ok()?;
        let campaign = page
            .query_pairs()
            .filter(|(name, value)| {
                let name = name.as_ref();
                !value.is_empty() && (UTM_PARAMS.contains(&name) || CLICK_IDS.contains(&name))
            })
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Some(Self {
            host: page.host_str().map(str::to_ascii_lowercase),
            site: bare_host(&page),
            campaign,
            cleaned_url: strip_sensitive(&page, sensitive).map(String::from),
        })
    }
}

/// URLs longer than this (unique query strings, mostly) are read every time
/// rather than remembered.
const REMEMBERED_URL_LEN: usize = 512;
/// How many URLs and referrers [`Lookups`] remembers, each; beyond, it reads.
const REMEMBERED_URLS: usize = 4096;

/// URLs and referrers already read, for the events of one chunk: a batch repeats
/// the same few pages, and parsing a URL costs more than looking it up. Reading is
/// pure (see the module's guarantees), so a remembered answer is the same answer.
/// One `Lookups` serves one list of sensitive parameters.
#[derive(Debug, Default)]
pub struct Lookups {
    pages: HashMap<String, Option<Page>>,
    referrers: HashMap<String, Option<String>>,
}

/// `key`'s answer from `seen`, read and remembered when new (unless too long,
/// or `seen` is full: then read and handed back without keeping it).
fn remembered<'m, T: Clone>(
    seen: &'m mut HashMap<String, Option<T>>,
    key: &str,
    read: impl FnOnce(&str) -> Option<T>,
) -> Option<Cow<'m, T>> {
    if !seen.contains_key(key) {
        let answer = read(key);
        if key.len() > REMEMBERED_URL_LEN || seen.len() >= REMEMBERED_URLS {
            return answer.map(Cow::Owned);
        }
        seen.insert(key.to_owned(), answer);
    }
    seen[key].as_ref().map(Cow::Borrowed)
}

/// Adds `$host`, `$referring_domain`, `utm_*`, click ids and `$channel_type` to
/// `props`, from `url` (the page) and `referrer`.
pub fn enrich(
    url: Option<&str>,
    referrer: Option<&str>,
    props: &mut Properties,
    sensitive: &[String],
    lookups: &mut Lookups,
) -> Traffic {
    let mut traffic = Traffic::default();
    if url.is_none() && referrer.is_none() {
        return traffic;
    }
    let Lookups { pages, referrers } = lookups;
    let page = url.and_then(|u| remembered(pages, u, |u| Page::read(u, sensitive)));
    if let Some(page) = &page {
        // `contains_key` first: `entry` would allocate the key for every event.
        if let Some(host) = page.host.as_ref().filter(|_| !props.contains_key("$host")) {
            props.insert_str("$host", host);
        }
        for (name, value) in &page.campaign {
            if !props.contains_key(name) {
                props.insert_str(name, value);
            }
        }
        traffic.cleaned_url = page.cleaned_url.clone();
    }
    let referrer_site = referrer
        .filter(|r| !r.is_empty() && *r != "$direct")
        .and_then(|r| {
            remembered(referrers, r, |r| {
                Url::parse(r).ok().as_ref().and_then(bare_host)
            })
        });
    if let Some(site) = referrer_site
        .as_ref()
        .filter(|_| !props.contains_key("$referring_domain"))
    {
        props.insert_str("$referring_domain", site.as_ref());
    }
    let page_site = page.as_ref().and_then(|p| p.site.as_deref());
    let external = referrer_site.filter(|site| Some(site.as_str()) != page_site);
    let has_click_id = CLICK_IDS.iter().any(|id| props.contains_key(id));
    let channel = classify(
        external.as_ref().map(|site| site.as_str()),
        props.get_str("utm_source").as_deref(),
        props.get_str("utm_medium").as_deref(),
        has_click_id,
    );
    props.insert_str("$channel_type", channel.as_str());
    traffic
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn defaults() -> Vec<String> {
        DEFAULT_SENSITIVE_PARAMS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn run(url: Option<&str>, referrer: Option<&str>, props: Value) -> (Value, Traffic) {
        let mut props = Properties::from_map(props.as_object().unwrap());
        let traffic = enrich(
            url,
            referrer,
            &mut props,
            &defaults(),
            &mut Lookups::default(),
        );
        (Value::Object(props.to_map()), traffic)
    }

    fn channel(url: &str, referrer: Option<&str>) -> String {
        run(Some(url), referrer, json!({})).0["$channel_type"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn remembered_pages_and_referrers_give_each_event_its_own_answer() {
        let url = "https://www.shop.example/p?utm_source=news&token=s3cret&gclid=1";
        let long = format!("https://shop.example/p?utm_medium=a{}", "x".repeat(600));
        let events = [
            (Some(url), Some("https://www.google.com/"), json!({})),
            // Same page: what the SDK set is kept, the rest still filled in.
            (
                Some(url),
                Some("https://www.google.com/"),
                json!({"utm_source": "sdk"}),
            ),
            (Some(url), Some("https://shop.example/cart"), json!({})),
            (Some(long.as_str()), None, json!({})),
            (Some(long.as_str()), None, json!({"utm_medium": "sdk"})),
            (Some("not a url"), Some("also not"), json!({})),
        ];
        let mut shared = Lookups::default();
        for (url, referrer, props) in events {
            let mut remembered = Properties::from_map(props.as_object().unwrap());
            let traffic = enrich(url, referrer, &mut remembered, &defaults(), &mut shared);
            let alone = run(url, referrer, props);
            assert_eq!(
                (Value::Object(remembered.to_map()), traffic),
                alone,
                "{url:?}"
            );
        }
        assert_eq!(shared.pages.len(), 2, "the long URL is not remembered");
        assert_eq!(shared.referrers.len(), 3);
    }

    #[test]
    fn channels_from_referrers() {
        let page = "https://shop.example/p";
        assert_eq!(channel(page, None), "direct");
        assert_eq!(channel(page, Some("$direct")), "direct");
        assert_eq!(channel(page, Some("https://www.google.de/")), "search");
        assert_eq!(
            channel(page, Some("https://search.yahoo.co.jp/x")),
            "search"
        );
        assert_eq!(channel(page, Some("https://duckduckgo.com/")), "search");
        assert_eq!(
            channel(page, Some("https://search.brave.com/search?q=a")),
            "search"
        );
        assert_eq!(
            channel(page, Some("https://l.facebook.com/l.php")),
            "social"
        );
        assert_eq!(channel(page, Some("https://t.co/abc")), "social");
        assert_eq!(
            channel(page, Some("https://news.ycombinator.com/item")),
            "social"
        );
        assert_eq!(
            channel(page, Some("https://mail.google.com/mail/u/0")),
            "email"
        );
        assert_eq!(
            channel(page, Some("https://blog.other.example/post")),
            "referral"
        );
        // Not a social site merely because the name ends the same way.
        assert_eq!(channel(page, Some("https://notx.com/")), "referral");
        // Internal navigation is not a source.
        assert_eq!(
            channel(page, Some("https://www.shop.example/cart")),
            "direct"
        );
    }

    #[test]
    fn campaigns_and_click_ids_win_over_referrers() {
        let ch = |url: &str| channel(url, Some("https://www.google.com/"));
        assert_eq!(ch("https://shop.example/?gclid=abc"), "paid");
        assert_eq!(
            ch("https://shop.example/?utm_medium=cpc&utm_source=google"),
            "paid"
        );
        assert_eq!(ch("https://shop.example/?utm_medium=paid_social"), "paid");
        assert_eq!(ch("https://shop.example/?utm_medium=email"), "email");
        assert_eq!(
            ch("https://shop.example/?utm_source=weekly-newsletter"),
            "email"
        );
        assert_eq!(ch("https://shop.example/?utm_medium=social"), "social");
        assert_eq!(ch("https://shop.example/?utm_medium=organic"), "search");
        // A campaign without a known medium and no referrer is a referral.
        assert_eq!(
            channel("https://shop.example/?utm_source=partner", None),
            "referral"
        );
    }

    #[test]
    fn properties_from_the_url_and_referrer() {
        let (props, traffic) = run(
            Some(
                "https://Shop.Example/a?utm_source=nl&utm_campaign=winter&utm_term=&fbclid=F1&x=1",
            ),
            Some("https://www.Other.example/post?id=3"),
            json!({"utm_campaign": "set-by-sdk"}),
        );
        assert_eq!(props["$host"], "shop.example");
        assert_eq!(props["$referring_domain"], "other.example");
        assert_eq!(props["utm_source"], "nl");
        assert_eq!(
            props["utm_campaign"], "set-by-sdk",
            "the SDK's value is kept"
        );
        assert!(
            props.get("utm_term").is_none(),
            "empty values are not copied"
        );
        assert_eq!(props["fbclid"], "F1");
        assert_eq!(props["$channel_type"], "paid");
        assert_eq!(traffic.cleaned_url, None, "nothing sensitive to remove");
    }

    #[test]
    fn sensitive_parameters_are_removed_from_the_url() {
        let (_, traffic) = run(
            Some("https://app.example/cb?code=SECRET&state=s1&Token=T&page=2"),
            None,
            json!({}),
        );
        assert_eq!(
            traffic.cleaned_url.as_deref(),
            Some("https://app.example/cb?state=s1&page=2")
        );
        let (_, traffic) = run(Some("https://app.example/cb?password=p"), None, json!({}));
        assert_eq!(
            traffic.cleaned_url.as_deref(),
            Some("https://app.example/cb")
        );
        let custom = vec!["ref".to_string()];
        let url = Url::parse("https://a.example/?ref=x&code=c").unwrap();
        assert_eq!(
            strip_sensitive(&url, &custom).map(String::from).as_deref(),
            Some("https://a.example/?code=c")
        );
    }

    #[test]
    fn events_without_url_or_referrer_are_untouched() {
        let (props, traffic) = run(None, None, json!({"plan": "pro"}));
        assert_eq!(props, json!({"plan": "pro"}));
        assert_eq!(traffic, Traffic::default());
    }

    #[test]
    fn unreadable_urls_are_left_alone() {
        let (props, traffic) = run(Some("not a url"), Some("::"), json!({"k": 1}));
        assert_eq!(props, json!({"k": 1, "$channel_type": "direct"}));
        assert_eq!(traffic, Traffic::default());
    }
}

//! Secrets and their hashes.
//!
//! Key format: `tly_<kind>_<lookup><secret>` with kind `ing` (ingest) or `adm`
//! (a user's personal key; `adm` because the first start's admin token is one),
//! a 12-character lookup id and a 32-character secret, both alphanumeric. The
//! lookup id is stored in the clear to find the row; the whole key is hashed with
//! argon2id, as are passwords.
//!
//! Session tokens are 256 random bits and are checked on every browser request,
//! so they are stored as SHA-256 digests: with that much entropy a fast hash
//! cannot be brute-forced, and argon2id per request would cost ~50 ms each.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};
use tally_core::KeyKind;

const LOOKUP_LEN: usize = 12;
const SECRET_LEN: usize = 32;

fn prefix(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Ingest => "tly_ing_",
        KeyKind::Personal => "tly_adm_",
    }
}

/// A presented key split into its parts, before any check of the secret.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub kind: KeyKind,
    pub lookup: &'a str,
}

/// Splits a presented key; `None` when it is not shaped like a Tally key.
pub fn parse_key(presented: &str) -> Option<ParsedKey<'_>> {
    let (kind, rest) = if let Some(rest) = presented.strip_prefix(prefix(KeyKind::Ingest)) {
        (KeyKind::Ingest, rest)
    } else {
        (
            KeyKind::Personal,
            presented.strip_prefix(prefix(KeyKind::Personal))?,
        )
    };
    let valid =
        rest.len() == LOOKUP_LEN + SECRET_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| ParsedKey {
        kind,
        lookup: &rest[..LOOKUP_LEN],
    })
}

/// A new random key and its lookup id.
pub fn generate(kind: KeyKind) -> (String, String) {
    let mut rng = rand::thread_rng();
    let lookup = Alphanumeric.sample_string(&mut rng, LOOKUP_LEN);
    let secret = Alphanumeric.sample_string(&mut rng, SECRET_LEN);
    (format!("{}{lookup}{secret}", prefix(kind)), lookup)
}

/// A new session token: 32 random bytes, base64url.
pub fn session_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a session token.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// argon2id hash in PHC string form, of a key or a password.
pub fn hash(key: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify(key: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(key.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let (key, lookup) = generate(KeyKind::Personal);
        let parsed = parse_key(&key).unwrap();
        assert_eq!(
            parsed,
            ParsedKey {
                kind: KeyKind::Personal,
                lookup: &lookup
            }
        );
        let phc = hash(&key).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify(&key, &phc));
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('a') { 'b' } else { 'a' });
        assert!(!verify(&wrong, &phc));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "tly_ing_",
            "tly_xxx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "tly_ing_short",
            "tly_ing_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }
}

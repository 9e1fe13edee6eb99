//! Secrets and password hashes: random session/API token secrets (stored only as SHA-256 digests), the
//! generated first-run password, and argon2id hashing and verification.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AuthError;

/// A new random secret: 32 bytes, base64url, never beginning with `-` or `_` (a token beginning with `-`
/// reads as an option on a command line: `warden --token -S…`, `curl -H`, shell tools). Redrawing the
/// 1 in 32 that do keeps every secret uniform over the rest.
pub fn new_secret() -> String {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if secret.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return secret;
        }
    }
}

/// A readable generated password: 20 characters without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// The key a token is stored under: the SHA-256 of its secret, in hex (the secret itself is never stored).
pub(crate) fn token_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash (PHC string) of `password`.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// An argon2id hash of a random secret, computed once, so unknown user names cost the same time to reject.
pub(crate) fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&new_secret()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn secrets_never_begin_like_a_command_line_option() {
        // Without the redraw about 63 of 2000 would begin with `-` or `_`.
        for _ in 0..2000 {
            let secret = new_secret();
            assert_eq!(secret.len(), 43, "{secret}");
            assert!(
                secret.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{secret}"
            );
        }
    }
}

//! The second factor of [`Auth`]: TOTP (RFC 6238, by the `totp-rs` crate: SHA-1, 6 digits, 30 s steps,
//! the current step ±1 accepted) with ten one-time recovery codes stored as SHA-256 digests. Enrollment
//! stores an unconfirmed secret; a first code confirms it and yields the recovery codes (shown once);
//! from then on every password login needs a code or a recovery code. A code is accepted once only: the
//! last accepted step is stored (and flushed) before the login is answered. The QR code of the
//! `otpauth://` URI is rendered here as SVG (the `qrcode` crate), no external service involved.

use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

use app::model::users::{validate_totp_code, RecoveryCodes, TotpEnrollment, RECOVERY_CODES};
use app::model::FieldError;

use super::credentials::Auth;
use super::records::TotpRecord;
use super::secrets::token_key;
use super::{AuthError, CredentialError};
use crate::clock::now_unix;

/// The issuer an authenticator app shows.
pub const ISSUER: &str = "Warden";
/// The TOTP time step, in seconds.
const STEP_SECS: u64 = 30;

/// What a login offers as its second factor.
#[derive(Debug, Clone, Default)]
pub struct SecondFactor {
    /// A 6-digit TOTP code.
    pub totp: Option<String>,
    /// One of the user's recovery codes.
    pub recovery_code: Option<String>,
}

impl SecondFactor {
    /// True when the login offers neither a code nor a recovery code.
    pub fn is_empty(&self) -> bool {
        self.totp.as_deref().is_none_or(str::is_empty)
            && self.recovery_code.as_deref().is_none_or(str::is_empty)
    }
}

fn totp(secret_b32: &str, account: &str) -> Result<TOTP, AuthError> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AuthError::Totp(format!("{e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    .map_err(|e| AuthError::Totp(format!("{e:?}")))
}

/// A new random TOTP secret: 20 bytes (160 bits, RFC 4226's recommendation), base32.
pub fn new_totp_secret() -> String {
    let mut bytes = vec![0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes).to_encoded().to_string()
}

/// The step (of now ±1) whose code `code` is, if it is later than `last_step` (a code is accepted once).
pub fn matching_step(
    secret_b32: &str,
    account: &str,
    code: &str,
    now: u64,
    last_step: Option<u64>,
) -> Result<Option<u64>, AuthError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if !validate_totp_code(&code).is_empty() {
        return Ok(None);
    }
    let totp = totp(secret_b32, account)?;
    let current = now / STEP_SECS;
    Ok([current.saturating_sub(1), current, current + 1]
        .into_iter()
        .filter(|step| last_step.is_none_or(|last| *step > last))
        .find(|step| totp.check(&code, step * STEP_SECS)))
}

/// Ten new recovery codes, `xxxxx-xxxxx` (50 random bits each).
fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

/// The stored digest of a recovery code (case, spaces and dashes ignored).
pub fn recovery_digest(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    token_key(&normal)
}

/// The `otpauth://totp/...` URI as an SVG QR code.
fn qr_svg(uri: &str) -> Result<String, AuthError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| AuthError::Totp(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

impl Auth {
    /// Starts (or restarts, while unconfirmed) enrollment of `username`'s second factor: a new secret,
    /// stored unconfirmed. 409 while a confirmed one is active (remove it first).
    pub async fn enroll_totp(&self, username: &str) -> Result<TotpEnrollment, CredentialError> {
        let result = self.enroll_totp_unaudited(username).await;
        self.audit
            .record_result("auth.totp.enroll", username, &result)
            .await;
        result
    }

    async fn enroll_totp_unaudited(
        &self,
        username: &str,
    ) -> Result<TotpEnrollment, CredentialError> {
        let _writing = self.password_writes.write().await;
        let mut user = self.existing(username)?;
        if user.totp.as_ref().is_some_and(|t| t.confirmed) {
            return Err(CredentialError::Conflict(vec![FieldError::new(
                "totp",
                "a second factor is active; remove it before enrolling a new one",
            )]));
        }
        let secret = new_totp_secret();
        let otpauth_uri = totp(&secret, username)?.get_url();
        let qr_svg = qr_svg(&otpauth_uri)?;
        let before = user.clone();
        user.totp = Some(TotpRecord {
            secret: secret.clone(),
            confirmed: false,
            last_step: None,
            recovery_hashes: Vec::new(),
        });
        self.write_user(&before, &user).await?;
        Ok(TotpEnrollment {
            secret,
            otpauth_uri,
            qr_svg,
        })
    }

    /// Confirms `username`'s enrolled secret with a current code: from now on logins need a code. The
    /// answer holds the recovery codes, shown this once (only their digests are stored).
    pub async fn confirm_totp(
        &self,
        username: &str,
        code: &str,
    ) -> Result<RecoveryCodes, CredentialError> {
        let result = self.confirm_totp_unaudited(username, code).await;
        self.audit
            .record_result("auth.totp.confirm", username, &result)
            .await;
        result
    }

    async fn confirm_totp_unaudited(
        &self,
        username: &str,
        code: &str,
    ) -> Result<RecoveryCodes, CredentialError> {
        let errors = validate_totp_code(code);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let _writing = self.password_writes.write().await;
        let mut user = self.existing(username)?;
        let Some(pending) = user.totp.clone().filter(|t| !t.confirmed) else {
            return Err(CredentialError::Conflict(vec![FieldError::new(
                "code",
                "there is no enrollment to confirm; enroll first",
            )]));
        };
        let now = now_unix().max(0) as u64;
        let Some(step) = matching_step(&pending.secret, username, code, now, None)? else {
            return Err(CredentialError::Invalid(vec![FieldError::new(
                "code",
                "this is not the current code of the secret",
            )]));
        };
        let codes = new_recovery_codes();
        let before = user.clone();
        user.totp = Some(TotpRecord {
            confirmed: true,
            last_step: Some(step),
            recovery_hashes: codes.iter().map(|c| recovery_digest(c)).collect(),
            ..pending
        });
        self.write_user(&before, &user).await?;
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// Removes `username`'s second factor (its own request, an admin's, or `warden admin
    /// reset-password`); its logins need the password only.
    pub async fn remove_totp(&self, username: &str) -> Result<(), CredentialError> {
        let result = self.remove_totp_unaudited(username).await;
        self.audit
            .record_result("auth.totp.remove", username, &result)
            .await;
        result
    }

    async fn remove_totp_unaudited(&self, username: &str) -> Result<(), CredentialError> {
        let _writing = self.password_writes.write().await;
        let mut user = self.existing(username)?;
        let before = user.clone();
        user.totp = None;
        self.write_user(&before, &user).await
    }

    /// Checks a login's second factor for `username` (whose password was right) and, when it is good,
    /// uses it up durably: the code's step becomes the last accepted one, a recovery code is removed.
    /// `Ok(false)` for a wrong, reused or missing code.
    pub(super) async fn use_second_factor(
        &self,
        username: &str,
        factor: &SecondFactor,
    ) -> Result<bool, CredentialError> {
        let _writing = self.password_writes.write().await;
        let mut user = self.existing(username)?;
        let Some(mut second) = user.totp.clone().filter(|t| t.confirmed) else {
            return Ok(true);
        };
        if let Some(code) = factor.totp.as_deref().filter(|c| !c.is_empty()) {
            let now = now_unix().max(0) as u64;
            match matching_step(&second.secret, username, code, now, second.last_step)? {
                Some(step) => second.last_step = Some(step),
                None => return Ok(false),
            }
        } else if let Some(code) = factor.recovery_code.as_deref().filter(|c| !c.is_empty()) {
            let digest = recovery_digest(code);
            let before = second.recovery_hashes.len();
            second.recovery_hashes.retain(|h| *h != digest);
            if second.recovery_hashes.len() == before {
                return Ok(false);
            }
        } else {
            return Ok(false);
        }
        let before = user.clone();
        user.totp = Some(second);
        self.write_user(&before, &user).await?;
        Ok(true)
    }

    /// Writes `after` over the user record `before` and flushes; if the flush fails, `before` is put
    /// back and the error returned. The caller holds `password_writes`.
    pub(super) async fn write_user(
        &self,
        before: &super::UserRecord,
        after: &super::UserRecord,
    ) -> Result<(), CredentialError> {
        self.users.insert(&after.username, after)?;
        if let Err(e) = self.flush().await {
            self.users.insert(&before.username, before)?;
            return Err(e.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_once_within_one_step_either_side() {
        let secret = new_totp_secret();
        let t = totp(&secret, "alice").unwrap();
        let now = 1_800_000_000u64;
        let code = t.generate(now);
        let step = now / STEP_SECS;
        assert_eq!(
            matching_step(&secret, "alice", &code, now, None).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, "alice", &code, now + 30, None).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, "alice", &code, now + 90, None).unwrap(),
            None
        );
        assert_eq!(
            matching_step(&secret, "alice", &code, now, Some(step)).unwrap(),
            None
        );
        assert_eq!(
            matching_step(&secret, "alice", "abcdef", now, None).unwrap(),
            None
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_digested_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(recovery_digest(code), recovery_digest(&code.to_uppercase()));
        assert_eq!(
            recovery_digest(code),
            recovery_digest(&code.replace('-', " "))
        );
    }

    #[test]
    fn the_qr_code_is_svg() {
        let svg = qr_svg("otpauth://totp/Warden:alice?secret=AAAA&issuer=Warden").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}

//! Request and response bodies of the dedicated interface (docs/sandbox-api.md). Fields the
//! live bank may leave out are `Option`s; amounts stay JSON strings, as the bank sends them.

use serde::{Deserialize, Deserializer, Serialize};

/// Accepts a JSON string or number and keeps it as a string (`expires_in`, `error_code`).
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sn {
        S(String),
        N(serde_json::Number),
    }
    Ok(Option::<Sn>::deserialize(d)?.map(|v| match v {
        Sn::S(s) => s,
        Sn::N(n) => n.to_string(),
    }))
}

/// One entry of `GET /consent-uris`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsentUri {
    /// `fr`, `nl`, …
    pub language: String,
    /// Where the PSU consents; the client appends `&state=S`.
    pub consent_uri: String,
}

/// The `/token` answer. `expires_in` is a JSON string at Belfius (a number is accepted too).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Token {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds, as the string the bank sent (`"900"`).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub expires_in: Option<String>,
    /// The refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `AIS`, `PIS` or `CAF`.
    #[serde(default)]
    pub scope: Option<String>,
    /// The first account's logical id (AIS).
    #[serde(default)]
    pub logical_id: Option<String>,
    /// The account's IBAN, when sent.
    #[serde(default)]
    pub iban: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("scope", &self.scope)
            .field("logical_id", &self.logical_id)
            .finish()
    }
}

impl Token {
    /// `expires_in` as seconds, when it is a number.
    pub fn expires_in_seconds(&self) -> Option<u64> {
        self.expires_in.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

/// An IBAN reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountRef {
    /// The IBAN.
    pub iban: String,
    /// Currency, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl AccountRef {
    /// An account by IBAN.
    pub fn iban(iban: impl Into<String>) -> Self {
        Self { iban: iban.into(), currency: None }
    }
}

/// An amount: a decimal string and a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Amount {
    /// `12.34`.
    pub amount: String,
    /// `EUR`.
    pub currency: String,
}

impl Amount {
    /// An amount.
    pub fn new(amount: impl Into<String>, currency: impl Into<String>) -> Self {
        Self { amount: amount.into(), currency: currency.into() }
    }
}

/// One account of `GET /accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountSummary {
    /// The logical id used in the account paths.
    pub logical_id: String,
    /// IBAN.
    #[serde(default)]
    pub iban: Option<String>,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Name.
    #[serde(default)]
    pub account_name: Option<String>,
}

/// `GET /accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountList {
    /// The accounts the PSU consented to.
    pub accounts: Vec<AccountSummary>,
}

/// A link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Link {
    /// The target.
    pub href: String,
}

/// `_links` of an account or a transaction page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Links {
    /// This resource.
    #[serde(default, rename = "self", skip_serializing_if = "Option::is_none")]
    pub self_: Option<Link>,
    /// The transactions of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Link>,
    /// The next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
    /// The account of a transaction page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Link>,
}

/// A balance in another currency of a multi-currency account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Compartment {
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Balance (decimal string).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub balance: Option<String>,
}

/// `GET /accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountDetails {
    /// Product type.
    #[serde(default)]
    pub product_type: Option<String>,
    /// Product name.
    #[serde(default)]
    pub product_name: Option<String>,
    /// IBAN.
    #[serde(default)]
    pub iban: Option<String>,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Balance (decimal string, `1234.56`).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub balance: Option<String>,
    /// Multi-currency account.
    #[serde(default)]
    pub multicurrency: Option<bool>,
    /// Name.
    #[serde(default)]
    pub account_name: Option<String>,
    /// Other currencies.
    #[serde(default)]
    pub other_compartments: Vec<Compartment>,
    /// The account holder.
    #[serde(default)]
    pub psu_name: Option<String>,
    /// Links.
    #[serde(default, rename = "_links")]
    pub links: Option<Links>,
}

/// One booked transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transaction {
    /// Reference.
    #[serde(default)]
    pub transaction_ref: Option<String>,
    /// Counterparty.
    #[serde(default)]
    pub counterparty_info: Option<String>,
    /// Communication.
    #[serde(default)]
    pub communication: Option<String>,
    /// Communication type.
    #[serde(default)]
    pub communication_type: Option<String>,
    /// Remittance information.
    #[serde(default)]
    pub remittance_info: Option<String>,
    /// Counterparty account.
    #[serde(default)]
    pub counterparty_account: Option<String>,
    /// Signed amount (decimal string, `-12.34`).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub amount: Option<String>,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub execution_date: Option<String>,
}

/// `_embedded` of a transaction page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransactionsEmbedded {
    /// The transactions.
    #[serde(default)]
    pub transactions: Vec<Transaction>,
    /// Key of the next page (`next` query parameter), if any.
    #[serde(default)]
    pub next_page_key: Option<String>,
}

/// `GET /accounts/{id}/transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransactionPage {
    /// The page.
    #[serde(default, rename = "_embedded")]
    pub embedded: TransactionsEmbedded,
    /// Links.
    #[serde(default, rename = "_links")]
    pub links: Option<Links>,
}

/// A SEPA credit transfer (PIS body version 3). Serialise it once and send those bytes: the
/// `Signature` covers the exact body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentRequest {
    /// The PSU's account; omitted entirely when `None` (the PSU picks it at the bank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debtor_account: Option<AccountRef>,
    /// The payee's account.
    pub creditor_account: AccountRef,
    /// The payee's name.
    pub creditor_name: String,
    /// Amount.
    pub instructed_amount: Amount,
    /// End-to-end id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endtoend_identification: Option<String>,
    /// Unstructured remittance information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittance_information_unstructured: Option<String>,
}

impl PaymentRequest {
    /// A transfer to `creditor_iban`.
    pub fn new(creditor_iban: impl Into<String>, creditor_name: impl Into<String>, amount: Amount) -> Self {
        Self {
            debtor_account: None,
            creditor_account: AccountRef::iban(creditor_iban),
            creditor_name: creditor_name.into(),
            instructed_amount: amount,
            endtoend_identification: None,
            remittance_information_unstructured: None,
        }
    }

    /// The JSON body bytes.
    pub fn to_body(&self) -> Result<Vec<u8>, crate::Error> {
        serde_json::to_vec(self).map_err(|e| crate::Error::Config(format!("payment body: {e}")))
    }
}

/// The answer to a payment initiation: the id, and the SCA URL from `Location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentInitiation {
    /// The payment id.
    pub payment_id: String,
    /// `RCVD`, …
    #[serde(default)]
    pub payment_status: Option<String>,
    /// The SCA URL (the `Location` header); the PSU goes there, the client does not follow it.
    #[serde(default)]
    pub sca_uri: Option<String>,
}

/// `GET /payments/{product}/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentDetails {
    /// The payment id.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// Status (`RCVD`, `ACSC`, …).
    #[serde(default)]
    pub payment_status: Option<String>,
    /// Amount.
    #[serde(default)]
    pub instructed_amount: Option<Amount>,
    /// The payee's account.
    #[serde(default)]
    pub creditor_account: Option<AccountRef>,
    /// The payee's name.
    #[serde(default)]
    pub creditor_name: Option<String>,
}

/// `GET /payments/{product}/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentStatus {
    /// The payment id.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// Status (`RCVD`, `ACSC`, …).
    pub payment_status: String,
}

/// `POST /funds-confirmations` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FundsRequest {
    /// The account (IBAN as at consent).
    pub account: AccountRef,
    /// Amount.
    pub instructed_amount: Amount,
}

impl FundsRequest {
    /// Is `amount` available on the account with this IBAN?
    pub fn new(iban: impl Into<String>, amount: Amount) -> Self {
        Self { account: AccountRef::iban(iban), instructed_amount: amount }
    }
}

/// `POST /funds-confirmations` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FundsConfirmation {
    /// Whether the amount is available.
    pub funds_available: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn token_expires_in_is_a_string_or_a_number() {
        let t: Token = serde_json::from_str(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"900","refresh_token":"r","scope":"AIS","logical_id":"x"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in.as_deref(), Some("900"));
        assert_eq!(t.expires_in_seconds(), Some(900));
        let t: Token = serde_json::from_str(r#"{"access_token":"a","expires_in":900}"#).unwrap();
        assert_eq!(t.expires_in.as_deref(), Some("900"));
        assert!(!format!("{t:?}").contains("\"a\""));
        // Written back as a string.
        assert!(serde_json::to_string(&t).unwrap().contains(r#""expires_in":"900""#));
    }

    #[test]
    fn payment_body_omits_the_debtor_account() {
        let body = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("12.34", "EUR")).to_body().unwrap();
        let s = String::from_utf8(body).unwrap();
        assert!(!s.contains("debtor_account"), "{s}");
        assert!(s.contains(r#""instructed_amount":{"amount":"12.34","currency":"EUR"}"#), "{s}");
    }

    #[test]
    fn contract_examples_parse() {
        let tx: TransactionPage = serde_json::from_str(
            r#"{"_embedded":{"transactions":[{"transaction_ref":"t1","counterparty_info":"c","communication":"m","communication_type":"free","remittance_info":"r","counterparty_account":"BE1","amount":"-12.34","currency":"EUR","execution_date":"2026-11-01"}],"next_page_key":null},"_links":{"self":{"href":"/x"}}}"#,
        )
        .unwrap();
        assert_eq!(tx.embedded.transactions[0].amount.as_deref(), Some("-12.34"));
        let a: AccountDetails = serde_json::from_str(
            r#"{"product_type":"current","product_name":"p","iban":"BE68539007547034","currency":"EUR","balance":"1234.56","multicurrency":false,"account_name":"n","other_compartments":[],"psu_name":"PSU","_links":{"self":{"href":"/a"},"transactions":{"href":"/a/t"}}}"#,
        )
        .unwrap();
        assert_eq!(a.balance.as_deref(), Some("1234.56"));
        assert_eq!(a.links.unwrap().transactions.unwrap().href, "/a/t");
    }
}

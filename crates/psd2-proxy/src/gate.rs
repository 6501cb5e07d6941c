//! Bank mode: which row of the call table a request is, and the role gate.

use psd2_client::{CALLS, CallSpec, PaymentProduct, RoleNeed, Scope};
use psd2_eidas::Role;

/// The payment products a `{product}` segment may be.
const PRODUCTS: [PaymentProduct; 3] = [
    PaymentProduct::SepaCreditTransfers,
    PaymentProduct::InstantSepaCreditTransfers,
    PaymentProduct::CrossBorderCreditTransfers,
];

/// Whether `path` (below the base) fits a template of the call table.
fn fits(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| match *t {
            "{id}" => !p.is_empty(),
            "{product}" => PRODUCTS.iter().any(|x| x.as_str() == *p),
            lit => lit == *p,
        })
}

/// The call of a request, by method and path; `None`: not a call of the interface.
pub(crate) fn call_of(method: &http::Method, path: &str) -> Option<&'static CallSpec> {
    CALLS.iter().find(|s| !s.path.is_empty() && s.method == method.as_str() && fits(s.path, path))
}

/// The roles a call needs, given the request's query (consent-uris: the role of `scope`).
pub(crate) fn roles_needed(spec: &CallSpec, query: Option<&str>) -> Result<Vec<Role>, String> {
    Ok(match spec.qwac_role {
        RoleNeed::One(r) => vec![r],
        RoleNeed::Any(rs) => rs.to_vec(),
        RoleNeed::OfScope => {
            let scope = query
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("scope="))
                .ok_or_else(|| format!("{} needs a scope query parameter (AIS, PIS or CAF)", spec.name))?;
            let scope: Scope = scope.parse().map_err(|e: psd2_client::Error| e.to_string())?;
            vec![scope.role()]
        }
        _ => Vec::new(),
    })
}

/// `PSP_PI` or `PSP_AI, PSP_PI or PSP_IC`.
pub(crate) fn role_names(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    match names.as_slice() {
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use psd2_client::Call;

    #[test]
    fn requests_find_their_call() {
        let get = http::Method::GET;
        let post = http::Method::POST;
        assert_eq!(call_of(&get, "/consent-uris").unwrap().call, Call::ConsentUris);
        assert_eq!(call_of(&post, "/payments/sepa-credit-transfers").unwrap().call, Call::InitiatePayment);
        assert_eq!(call_of(&get, "/payments/sepa-credit-transfers/x1/status").unwrap().call, Call::PaymentStatus);
        assert_eq!(call_of(&get, "/accounts/a/transactions").unwrap().call, Call::Transactions);
        assert!(call_of(&get, "/payments/other/x1").is_none());
        assert!(call_of(&get, "/accounts//transactions").is_none());
        assert!(call_of(&post, "/accounts").is_none());
        assert!(call_of(&get, "/").is_none());
        let spec = Call::ConsentUris.spec();
        assert_eq!(roles_needed(spec, Some("scope=PIS")).unwrap(), vec![Role::PaymentInitiation]);
        assert!(roles_needed(spec, None).is_err());
        assert_eq!(role_names(&[Role::AccountInformation, Role::PaymentInitiation]), "PSP_AI or PSP_PI");
    }
}

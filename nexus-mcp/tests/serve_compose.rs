//! Revocations compose: every source of one (the operator's `serve revoke
//! --person`, refresh-token reuse detection, Global Token Revocation, a
//! Shared Signals SET, SCIM's deactivation, one agent's session ended
//! alone, `serve revoke --person … --client`, and an agent of a chain's
//! session ended alone) states a fact of its own, and a person is out while
//! any fact holds. Every ordered pair of sources, each through the program
//! with three replicas and a real Redis: after both, the person's tokens,
//! and the token an agent got for them by exchange (RFC 8693), are refused
//! on every replica; the chain's own source leaves the person's own tokens
//! as they are until the other source comes; where SCIM took part,
//! no new sign-in holds and SCIM's `GET` says `active: false` until SCIM
//! itself reactivates them, whatever came after; reactivated, the tokens
//! either source refused stay refused.

mod common;

use common::front::{
    called, called_beside, refreshed, replica, signed_in_at, signed_in_tokens, stored,
    token_answer, tokens_for,
};
use common::served::{Served, wait_until};
use common::signals::{
    SESSION_REVOKED, entra_active, iss_sub, logout, logout_jwt, pushed, scim, scim_user, set_of,
};
use nexus_gateway_fake::FakeIssuer;
use serde_json::Value;

/// A source of revocation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Operator,
    Reuse,
    GlobalLogout,
    SharedSignal,
    Scim,
    Session,
    Chain,
}

const SOURCES: [Source; 7] = [
    Source::Operator,
    Source::Reuse,
    Source::GlobalLogout,
    Source::SharedSignal,
    Source::Scim,
    Source::Session,
    Source::Chain,
];

/// The deployment a pair is tried on: three replicas, the issuer, the
/// store, SCIM's Tenant URL and Secret Token, and the push authorization.
struct Deployment {
    replicas: [Served; 3],
    origin: String,
    issuer: FakeIssuer,
    store: String,
    scim: (String, String),
    push: String,
    /// The agent that exchanges each person's token (its id and secret).
    exchanger: (String, String),
}

/// A person signed in: their subject, the client that signed them in, the
/// tokens, and their SCIM user's id once made.
struct Person {
    subject: String,
    client: String,
    tokens: Value,
    /// The token the exchanger got for them, acting through their client.
    exchanged: Value,
    scim_id: Option<String>,
    /// Whether a source revoked them already.
    revoked: bool,
}

impl Deployment {
    /// `subject` signed in through the first replica.
    fn signed_in(&self, subject: &str) -> Person {
        self.issuer.approve_as(subject);
        let (client, said) = signed_in_at(&self.replicas[0], &self.origin);
        let tokens = tokens_for(&self.origin, &client, &said["code"]);
        let exchanger = (self.exchanger.0.as_str(), self.exchanger.1.as_str());
        let (status, exchanged) = common::front::exchanged(&self.origin, exchanger, &tokens, &[]);
        assert_eq!(status, 200, "{exchanged}");
        Person {
            subject: subject.to_owned(),
            client,
            tokens,
            exchanged,
            scim_id: None,
            revoked: false,
        }
    }

    /// What a new sign-in of `person` is answered at `/token`.
    fn signs_in_again(&self, person: &Person) -> u16 {
        self.issuer.approve_as(&person.subject);
        let (id, said) = signed_in_at(&self.replicas[1], &self.origin);
        let form = common::front::redemption(&id, &said["code"]);
        token_answer(&self.origin, &form).0
    }

    /// Whether `tokens` are refused on every replica.
    fn out_everywhere(&self, tokens: &Value) -> bool {
        called(&self.replicas[0], tokens) == 401
            && (self.replicas[1..].iter()).all(|r| called_beside(r, &self.origin, tokens) == 401)
    }

    /// `person` revoked by `source`.
    fn revoke(&self, source: Source, person: &mut Person) {
        let jti = format!("{}-{source:?}", person.subject);
        match source {
            Source::Operator => {
                let args = ["revoke", "--person", &self.issuer.url(), &person.subject];
                let args = [&args[..], &["--store", &self.store]].concat();
                let said = common::front::operated(&args, &[]);
                assert!(said.contains("revoked who="), "{said}");
            }
            Source::Reuse => {
                // Refreshed (refused, where another source came first) …
                let (status, _) = refreshed(&self.origin, &person.client, &person.tokens);
                assert!(status == 200 || person.revoked, "{status}");
                // … and the same refresh token again: a replay, the family revoked.
                let (status, _) = refreshed(&self.origin, &person.client, &person.tokens);
                assert_eq!(status, 400);
            }
            Source::GlobalLogout => {
                let jwt = self.issuer.mint(&logout_jwt(&self.origin, &jti));
                let body = iss_sub(&self.issuer, &person.subject);
                let (status, answer) = logout(&self.origin, Some(&jwt), &body);
                assert_eq!(status, 204, "{answer}");
            }
            Source::SharedSignal => {
                let set = set_of(
                    &self.issuer,
                    (SESSION_REVOKED, &person.subject),
                    (&self.origin, &jti),
                );
                let set = self.issuer.mint(&set);
                let (status, answer) = pushed(&self.origin, Some(&self.push), &set);
                assert_eq!(status, 202, "{answer}");
            }
            Source::Session | Source::Chain => {
                let client = match source {
                    Source::Chain => &self.exchanger.0,
                    _ => &person.client,
                };
                let mark = common::front::mark(client);
                let (issuer, subject) = (self.issuer.url(), person.subject.clone());
                let args = [
                    "revoke",
                    "--person",
                    &issuer,
                    &subject,
                    "--client",
                    &mark[..12],
                ];
                let args = [&args[..], &["--store", &self.store]].concat();
                let said = common::front::operated(&args, &[]);
                assert!(said.contains("revoked the session of client="), "{said}");
            }
            Source::Scim => {
                let id = self.scim_id(person);
                let (status, user) = self.scim(("PATCH", &id), &entra_active("False"));
                assert_eq!((status, &user["active"]), (200, &false.into()), "{user}");
            }
        }
        person.revoked = true;
    }

    /// The SCIM user of `person`, made as the provisioning service makes it.
    fn scim_id(&self, person: &mut Person) -> String {
        if person.scim_id.is_none() {
            let name = format!("{}@acme.example", person.subject);
            let user = scim_user(&person.subject, &name);
            let (status, made) = self.scim(("POST", ""), &user);
            assert_eq!(status, 201, "{made}");
            person.scim_id = made["id"].as_str().map(str::to_owned);
        }
        person.scim_id.clone().expect("an id")
    }

    /// A SCIM request on `/Users{path}`.
    fn scim(&self, (method, path): (&str, &str), body: &Value) -> (u16, Value) {
        let (tenant, token) = &self.scim;
        let path = match path {
            "" => "/Users".to_owned(),
            id => format!("/Users/{id}"),
        };
        scim(tenant, token, (method, &path), body)
    }
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn every_pair_of_revocations_keeps_a_person_out_and_only_scim_lifts_its_own() {
    let (_redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let args = ["--store", &store, "--ssf-transmitter", &transmitter];
    let (one, origin, _, _) = signed_in_tokens(&issuer, &gateway, "first", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let (three, _) = replica(&issuer, &gateway, &origin, &args);
    let stream = common::front::ssf_connect(&origin, &transmitter, "okta-api-token", false);
    let push = common::signals::push_authorization(&issuer, &stream);
    let made =
        common::front::client_add(&origin, &["--name", "Chained", "--grant", "token-exchange"]);
    let exchanger = (
        made["client_id"].as_str().unwrap().to_owned(),
        made["client_secret"].as_str().unwrap().to_owned(),
    );
    let deployment = Deployment {
        exchanger,
        replicas: [one, two, three],
        scim: common::front::scim_token(&origin),
        push,
        origin,
        issuer,
        store,
    };
    for first in SOURCES {
        for second in SOURCES.into_iter().filter(|s| *s != first) {
            let subject = format!("{first:?}-{second:?}").to_lowercase();
            let mut person = deployment.signed_in(&subject);
            if [first, second].contains(&Source::Scim) {
                deployment.scim_id(&mut person);
            }
            deployment.revoke(first, &mut person);
            let pair = format!("{first:?} then {second:?}");
            if first == Source::Chain {
                // The chain's agent alone: what it was given ends, the person's own host stays.
                wait_until(|| deployment.out_everywhere(&person.exchanged));
                assert_eq!(
                    called_beside(&deployment.replicas[2], &deployment.origin, &person.tokens),
                    200,
                    "{pair}"
                );
            }
            deployment.revoke(second, &mut person);
            wait_until(|| deployment.out_everywhere(&person.tokens));
            wait_until(|| deployment.out_everywhere(&person.exchanged));
            if ![first, second].contains(&Source::Scim) {
                assert_eq!(deployment.signs_in_again(&person), 200, "{pair}");
                continue;
            }
            // SCIM's deactivation holds whatever came after it.
            assert_eq!(deployment.signs_in_again(&person), 400, "{pair}");
            let id = person.scim_id.clone().expect("an id");
            let (_, read) = deployment.scim(("GET", &id), &Value::Null);
            assert_eq!(read["active"], false, "{pair}: {read}");
            // Reactivated by SCIM: new sign-ins hold, the old tokens stay out.
            let (status, _) = deployment.scim(("PATCH", &id), &entra_active("True"));
            assert_eq!(status, 200, "{pair}");
            assert_eq!(deployment.signs_in_again(&person), 200, "{pair}");
            assert!(deployment.out_everywhere(&person.tokens), "{pair}");
            assert!(deployment.out_everywhere(&person.exchanged), "{pair}");
        }
    }
}

//! The state of the hosts' authorization server (`--oauth-proxy`): where
//! it is, what it grants, the keys it seals with, and what its steps share
//! (the codes redeemed here, the login client, the deny list, the fetcher
//! of client documents). Every step reads it; it names no step.
//!
//! Stateless, as the rest of `serve`: a client id is the registration
//! itself, sealed with the keyring under a named key ([`Sealing::named`]),
//! so any replica reads any client, a registration flood costs no state,
//! and a client id opens while the ring holds its key.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::Client;
use super::document::Documents;
use crate::keys::{HeldKeys, Sealing, Unopened};
use crate::serve::admit::Admission;
use crate::serve::deny::DenyList;
use crate::serve::grant::{CLIENT_LIFE, ClientAuth, Grant, GrantType, ID_JAG_PROFILE, Redeemed};
use crate::serve::issuer::Issuer;
use crate::serve::revoked::Named;
use crate::serve::signin::SignIn;
use crate::serve::store::Store;

/// Why a grant presented is no longer honoured ([`Front::ended`]).
#[derive(Debug, PartialEq)]
pub(crate) enum Ended {
    /// The store's revocations are yet to be read: why, for a 503.
    Unread(&'static str),
    /// The person, or the sign-in's family, was revoked.
    Person,
    /// A client it acts through was revoked, or its session for the person.
    Client,
    /// A client it acts through is withdrawn by the operator.
    Withdrawn,
}

/// Where the provider's Global Token Revocation is served (with a store).
pub(crate) const GLOBAL_REVOCATION: &str = "/global-token-revocation";

/// The identity provider an issuer is, as far as the values to paste
/// differ: Entra ID (a tenant's v2.0 issuer), Okta (its hosts), another.
#[derive(Debug, PartialEq)]
pub(crate) enum Provider {
    Entra,
    Okta,
    Other,
}

impl Provider {
    /// The provider `issuer` is.
    pub(crate) fn of(issuer: &str) -> Provider {
        let Ok(url) = url::Url::parse(issuer) else {
            return Provider::Other;
        };
        let host = url.host_str().unwrap_or_default();
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let tenant =
            matches!(segments[..], [tenant, "v2.0", ..] if crate::serve::issuer::is_guid(tenant));
        let okta = [
            ".okta.com",
            ".oktapreview.com",
            ".okta-emea.com",
            ".okta-gov.com",
        ];
        match () {
            _ if tenant || host.starts_with("login.microsoftonline.") => Provider::Entra,
            _ if okta.iter().any(|o| host.ends_with(o)) => Provider::Okta,
            _ => Provider::Other,
        }
    }
}

/// The authorization server `serve` is with `--oauth-proxy`: where it is,
/// what it grants, and the keys its client ids are sealed with.
pub(crate) struct Front {
    /// The public URL's origin: this authorization server's issuer.
    pub(crate) origin: String,
    /// The scopes a token it issues carries (`--scope`).
    pub(crate) scopes: Vec<String>,
    /// The MCP endpoint's URL, the resource its tokens are for.
    pub(crate) resource: String,
    /// The keys held.
    pub(crate) keys: Arc<HeldKeys>,
    /// The codes redeemed on this replica.
    pub(crate) redeemed: Redeemed,
    /// The login client people sign in at the issuer with.
    pub(crate) login: Arc<SignIn>,
    /// The issuer people sign in at (`--issuer`): with a subject, the person.
    pub(crate) issuer: String,
    /// `--deny-file`'s people: refused a token, a refresh included.
    pub(crate) deny: Arc<DenyList>,
    /// The fetcher of client ID metadata documents.
    pub(crate) documents: Documents,
    /// Where refresh-token families are kept (`--store`).
    pub(crate) store: Arc<Store>,
    /// How long a sign-in holds (`--sign-in-life`).
    pub(crate) sign_in_life: Duration,
    /// Who may sign in (`--allow-sign-in`), held again at each refresh.
    pub(crate) admission: Admission,
    /// What the ID-JAG grant allows.
    pub(crate) id_jag: IdJag,
    /// What the identity provider's signals need.
    pub(crate) signals: Signals,
    /// Where a device authorization waits for its person, and their answer
    /// for its agent (RFC 8628): every replica's, with a store.
    pub(crate) devices: Arc<dyn crate::approval::Verdicts>,
    /// How many user codes are typed a minute ([`crate::serve::grant::DEVICE_ENTRIES`]).
    pub(crate) entries: crate::rate::PersonRate,
    /// When this replica last said each (person, agent)'s call to the store.
    pub(crate) called: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// What the identity provider's signals need (served with a store): the
/// Shared Signals transmitters trusted (`--ssf-transmitter`), whether a
/// credential change revokes (`--ssf-credential-change-revokes`), the
/// bearer token presented to them (`NEXUS_MCP_SSF_TOKEN`: polling), and the
/// SCIM user's attribute that holds the person's subject
/// (`--scim-subject-attribute`).
#[derive(Clone, Default)]
pub(crate) struct Signals {
    pub(crate) transmitters: Vec<Arc<Issuer>>,
    pub(crate) credential_change_revokes: bool,
    pub(crate) ssf_token: Option<String>,
    pub(crate) scim_subject: String,
}

/// What the ID-JAG grant allows: a public client to present one
/// (`--id-jag-from-public-clients`), the life of the access token one
/// earns (`--id-jag-token-life`), and the issuer trusted for ID-JAGs beside
/// `--issuer` (`--id-jag-issuer`: Okta's org server, where people sign in
/// at a custom authorization server).
#[derive(Clone)]
pub(crate) struct IdJag {
    pub(crate) from_public_clients: bool,
    pub(crate) life: Duration,
    pub(crate) issuer: Option<Arc<Issuer>>,
}

impl IdJag {
    /// The issuer an ID-JAG naming `iss` is checked against: `--issuer`'s
    /// (`login`), or `--id-jag-issuer`'s; none for any other.
    pub(crate) fn issuer<'a>(
        &'a self,
        iss: &str,
        login: &'a Arc<Issuer>,
    ) -> Option<&'a Arc<Issuer>> {
        let trusted = self.issuer.iter().find(|issuer| issuer.url() == iss);
        trusted.or((login.url() == iss).then_some(login))
    }
}

impl Front {
    /// Its metadata (RFC 8414 §2), as MCP's hosts read it: PKCE with S256
    /// alone, public clients and confidential ones (`serve client add`),
    /// dynamic registration, `iss` in every authorization response (RFC
    /// 9207), revocation (RFC 7009), the ID-JAG grant; with a store, the
    /// provider's Global Token Revocation.
    pub(crate) fn metadata(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.origin);
        let methods = ClientAuth::ALL.map(ClientAuth::as_str);
        let mut metadata = json!({
            "issuer": self.origin,
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "registration_endpoint": at("/register"),
            "revocation_endpoint": at("/revoke"),
            "device_authorization_endpoint": at("/device_authorization"),
            "revocation_endpoint_auth_methods_supported": methods,
            "response_types_supported": ["code"],
            "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
            "authorization_grant_profiles_supported": [ID_JAG_PROFILE],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": crate::serve::jws::ALGORITHMS
                .map(|alg| format!("{alg:?}")),
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": self.scopes,
        });
        if self.store.shared() {
            metadata["global_token_revocation_endpoint"] = json!(at(GLOBAL_REVOCATION));
            metadata["global_token_revocation_endpoint_auth_methods_supported"] =
                json!([ClientAuth::PrivateKeyJwt.as_str()]);
        }
        metadata
    }

    /// What the administrator pastes into the identity provider and each
    /// host, in their words, for this deployment and the provider its
    /// `--issuer` is (Entra's provisioning, Okta's resource app, or either's
    /// words for another): one line for `--check` and the start line; and
    /// a mapping or a subject claim that could never name a person, said.
    pub(crate) fn values(&self) -> String {
        let (origin, resource) = (&self.origin, &self.resource);
        let hosts = format!(
            "the login client's redirect URI {origin}/connect/callback; in each host, the MCP URL \
             {resource} (Claude Code: claude mcp add --transport http NAME {resource}; VS Code: \
             \"servers\": {{\"NAME\": {{\"type\": \"http\", \"url\": \"{resource}\"}}}})"
        );
        let scopes = self.scopes.join(" ");
        let resource_app = format!(
            "Issuer URL {origin}, Audience {origin}, Scopes {scopes:?}, and for each requesting \
             app the client id `nexus-mcp serve client add` printed"
        );
        let signals = self.store.shared();
        let scim = format!(
            "SCIM Tenant URL {origin}/scim/v2, its Secret Token from `nexus-mcp serve scim token`"
        );
        match Provider::of(&self.issuer) {
            Provider::Entra => {
                let mut said = format!("the values to paste at Entra ID: {hosts}");
                if signals {
                    let mapping = self.entra_mapping();
                    said += &format!(
                        "; provisioning (Enterprise applications → Provisioning, Automatic): {scim}, {mapping}"
                    );
                }
                said
            }
            Provider::Okta => {
                let mut said = format!(
                    "the values to paste at Okta: the resource app (Cross App Access), {resource_app}; {hosts}"
                );
                if signals {
                    said += &format!(
                        "; Universal Logout's Global Token Revocation endpoint {origin}{GLOBAL_REVOCATION}; {scim}; Shared Signals by `nexus-mcp serve ssf connect`"
                    );
                }
                said
            }
            Provider::Other => {
                let mut said = format!(
                    "the values to paste: at the identity provider, for ID-JAGs, {resource_app}; {hosts}"
                );
                if signals {
                    said += &format!(
                        "; the provider's signals: Global Token Revocation {origin}{GLOBAL_REVOCATION}, {scim}, Shared Signals by `nexus-mcp serve ssf connect`"
                    );
                }
                said
            }
        }
    }

    /// The attribute mapping Entra's provisioning needs for this
    /// deployment's people, or why none of its attributes can match.
    fn entra_mapping(&self) -> String {
        let claim = self.login.reads.subject_claim.as_str();
        let attribute = self.signals.scim_subject.as_str();
        match (claim, attribute.to_ascii_lowercase().as_str()) {
            ("oid", "externalid") => "the mapping externalId ← objectId (in place of Entra's default, mailNickname), as --subject-claim oid names people".to_owned(),
            ("upn" | "email" | "preferred_username", "username") => format!("the mapping userName ← userPrincipalName (Entra's default), as --subject-claim {claim} names people"),
            ("sub", _) => "no mapping can match: an Entra ID token's sub is pairwise (one per application), so no attribute Entra provisions and no signal ever names it; give --subject-claim oid (mapping externalId ← objectId)".to_owned(),
            _ => format!("no mapping matches --subject-claim {claim} with --scim-subject-attribute {attribute}: give --subject-claim oid with externalId ← objectId, or --subject-claim upn with --scim-subject-attribute userName"),
        }
    }

    /// The person `subject` of `--issuer`, as the revocation list names them.
    pub(crate) fn named(&self, subject: &str) -> Named {
        Named::of(&self.issuer, &self.login.reads.subject_claim, subject)
    }

    /// Why `grant` (of the refresh `family`, if any), granted at `granted`,
    /// is no longer honoured, or none: the store's revocations yet to be read,
    /// the person or the family revoked, or any client it acts through (its
    /// own and each of its chain's, [`Grant::clients`]) revoked, alone or as
    /// that agent's session for the person, or withdrawn (`client=` in
    /// --deny-file). The one check of every grant presented, at `/token`
    /// and in front of MCP.
    pub(crate) fn ended(&self, grant: &Grant, family: Option<&str>, granted: u64) -> Option<Ended> {
        let revocations = self.store.revocations();
        if let Some(why) = revocations.unread_said() {
            return Some(Ended::Unread(why));
        }
        let who = self.named(&grant.person);
        if revocations.refuses(&who, family, granted) {
            return Some(Ended::Person);
        }
        let mut clients = grant.clients();
        if clients.any(|mark| revocations.refuses_client(&who, mark, granted)) {
            return Some(Ended::Client);
        }
        let withdrawn = grant.clients().any(|mark| self.deny.withdraws(mark));
        withdrawn.then_some(Ended::Withdrawn)
    }

    /// That `principal`'s agent called for its person now, said to the store
    /// (`serve sessions` lists it as its last call) off the request's path,
    /// at most once a minute per (person, agent) from this replica; an
    /// agent acting as itself has no session.
    pub(crate) fn called(&self, principal: &crate::principal::Principal) {
        let (Some(person), Some(mark)) = (principal.person(), principal.oauth_client()) else {
            return;
        };
        if !principal.consents() {
            return;
        }
        let who = person[..crate::serve::revoked::PERSON_DIGITS].to_owned();
        let now = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        {
            let mut said = self.called.lock().unwrap_or_else(|e| e.into_inner());
            let key = format!("{who}{mark}");
            if said
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < minute)
            {
                return;
            }
            if said.len() >= 10_000 {
                said.retain(|_, at| now.duration_since(*at) < minute);
            }
            said.insert(key, now);
        }
        let (store, life, mark) = (Arc::clone(&self.store), self.sign_in_life, mark.to_owned());
        tokio::spawn(async move {
            let at = crate::serve::store::now_ms();
            if let Err(crate::serve::store::Down(why)) =
                store.session_called((&who, &mark), at, life).await
            {
                log::debug!(target: "nexus_mcp", "a call not said to the store: {why}");
            }
        });
    }

    /// That `subject` was granted something now, said to the store: a
    /// signal about them knows they signed in here (a store that does not
    /// answer costs the signal's line that knowledge, not the grant).
    pub(crate) async fn saw(&self, subject: &str) {
        let named = self.named(subject);
        let life = self.sign_in_life.max(crate::serve::grant::ACCESS_LIFE);
        let who = &named.folded[..crate::serve::revoked::PERSON_DIGITS];
        if let Err(crate::serve::store::Down(why)) = self.store.saw(who, life).await {
            log::debug!(target: "nexus_mcp", "a sign-in not said to the store: {why}");
        }
    }

    /// The client id `client` is: the registration, sealed.
    pub(crate) fn client_id(&self, client: &Client) -> String {
        Sealing::named(&self.keys.now().oauth.clients, client, CLIENT_LIFE)
    }

    /// The client `id` is, when this server's ring sealed it; else why not.
    pub(crate) fn client(&self, id: &str) -> Result<Client, Unopened> {
        let opened = Sealing::opened::<Client>(&self.keys.now().oauth.clients, id);
        opened.map(|client| self.bounded(client))
    }

    /// `client` with the boundary it declared on this server
    /// ([`crate::agents::declared`]): the scopes it registered beyond this
    /// server's own.
    pub(crate) fn bounded(&self, client: Client) -> Client {
        let scopes = crate::agents::declared(client.scopes, &self.scopes);
        Client { scopes, ..client }
    }

    /// The authorization server of the unit tests: `https://mcp.example.com`
    /// granting `scopes`, its keys `ring`, a login client never asked,
    /// nobody denied.
    #[cfg(test)]
    pub(crate) fn tested(ring: &str, scopes: &[&str]) -> Front {
        let ring = crate::state::Keyring::parse(ring).unwrap();
        let keys = Arc::new(HeldKeys::new(crate::keys::Keys::new(&ring).unwrap()));
        Front::tested_with(keys, scopes)
    }

    /// [`Front::tested`], its keys `keys`.
    #[cfg(test)]
    pub(crate) fn tested_with(keys: Arc<HeldKeys>, scopes: &[&str]) -> Front {
        let origin = "https://mcp.example.com".to_owned();
        let issuer = "https://login.example";
        let deny = DenyList::read(None, issuer).unwrap();
        let reads = crate::serve::reads::Reads {
            subject_claim: "sub".into(),
            workspace_claim: None,
            policy_claims: Default::default(),
            admission: Admission::default(),
            login_scopes: Vec::new(),
            groups_decide: false,
        };
        let issued_by = Arc::new(crate::serve::issuer::Issuer::new(issuer));
        let sealed_with = (origin.clone(), Arc::clone(&keys));
        let login = SignIn::new(issued_by, ("tested-login", None), sealed_with, reads);
        Front {
            resource: format!("{origin}/mcp"),
            origin,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            keys,
            redeemed: Default::default(),
            login: Arc::new(login),
            issuer: issuer.into(),
            deny: Arc::new(deny),
            documents: Documents::new(Vec::new()),
            store: Arc::new(Store::memory()),
            sign_in_life: crate::serve::grant::SIGN_IN_LIFE,
            admission: Admission::default(),
            signals: Signals {
                scim_subject: "externalId".into(),
                ..Signals::default()
            },
            id_jag: IdJag {
                issuer: None,
                from_public_clients: false,
                life: crate::serve::grant::ACCESS_LIFE,
            },
            devices: Arc::new(crate::approval::InMemory::default()),
            entries: crate::rate::PersonRate::new(crate::serve::grant::DEVICE_ENTRIES),
            called: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front(ring: &str) -> Front {
        Front::tested(ring, &[])
    }

    #[test]
    fn a_client_id_opens_on_every_replica_whose_ring_holds_its_key_and_nowhere_else() {
        let key = "default:a-sealing-key-of-at-least-32-bytes!!";
        let client = Client {
            name: "Host".into(),
            redirect_uris: vec!["http://127.0.0.1:1/cb".into()],
            native: true,
            secret: None,
            origin: None,
            keys: None,
            scopes: None,
            session_life: None,
            grants: Vec::new(),
            workspace: None,
        };
        let id = front(key).client_id(&client);
        assert_eq!(
            front(key).client(&id).ok(),
            Some(client.clone()),
            "another replica"
        );
        let rotated = format!("new:another-key-of-at-least-thirty-two-bytes,{key}");
        assert_eq!(
            front(&rotated).client(&id).ok(),
            Some(client),
            "mid rotation"
        );
        let differs = front("default:a-different-key-of-thirty-two-bytes!!").client(&id);
        let line = differs.err().and_then(|u| u.keys_differ("a client id"));
        assert!(line.is_some_and(|l| l.contains("keys under id \"default\" differ")));
        let lacks = front("other:a-different-key-of-thirty-two-bytes!!").client(&id);
        let line = lacks.err().and_then(|u| u.keys_differ("a client id"));
        assert!(line.is_some_and(|l| l.contains("keyring (other) lacks")));
        let changed = front(key).client(&id.replace('.', "x")).err();
        assert!(changed.is_some_and(|u| u.keys_differ("a client id").is_none()));
    }
}

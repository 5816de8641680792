//! `serve`'s flags, checked into the wing they build ([`Wing`]), each part
//! made once: where it listens and who it is ([`Site`]), the resource
//! server in front of MCP ([`Gate`]) holding the hosts' authorization
//! server with `--oauth-proxy`, and the connect page; each refusal names
//! its flag.

use std::sync::Arc;
use std::time::Duration;

use super::actions::{Action, life_within, sign_in_life};
use super::admit::Admission;
use super::bearer::{Gate, Hosts};
use super::check::LoginClient;
use super::deny;
use super::grant::{ACCESS_LIFE, SIGN_IN_LIFE};
use super::introspect::Introspection;
use super::issuer::Issuer;
use super::oauth::document::Documents;
use super::oauth::front::{Front, IdJag, Signals};
use super::reads::Reads;
use super::signin::SignIn;
use super::store::{Store, StoreGiven, store_at};
use crate::addresses::{read_without_password, shown};
use crate::keys::HeldKeys;
use crate::ticket::Links;

/// `nexus-mcp serve`'s own flags.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct ServeArgs {
    /// What else `serve` does, for its operator, beside serving.
    #[command(subcommand)]
    pub(crate) action: Option<Action>,
    /// Where to listen: ADDRESS:PORT (127.0.0.1:8080, 0.0.0.0:8080).
    #[arg(long, value_name = "ADDR", required = true)]
    listen: Option<String>,
    /// This server's URL as clients reach it, the audience its tokens name:
    /// `https://mcp.example.com/mcp` (MCP is served at its path).
    #[arg(long, value_name = "URL", required = true)]
    public_url: Option<String>,
    /// The OAuth authorization server whose tokens this server accepts, as
    /// its tokens name it (iss). One: a team with two providers federates
    /// one into the other, or runs a deployment on a host of its own for each.
    #[arg(long = "issuer", value_name = "URL", required = true)]
    issuers: Vec<String>,
    /// An audience a token may name besides the public URL (repeat for
    /// more): the application's client id or `api://…` an issuer such as
    /// Entra ID puts in `aud`. A token that names only such an audience must
    /// show it is an access token (typed `at+jwt`, or carrying its scope).
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// The claim that names the person, in access tokens and the connect
    /// page's ID token alike (`oid` for Entra ID, `uid` for Okta's custom
    /// authorization servers); a token without it, or with a blank one, is
    /// refused.
    #[arg(long, value_name = "NAME", default_value = "sub")]
    subject_claim: String,
    /// A claim whose values are the person's groups for --policy (repeat
    /// for more): a string or a list of strings; a dotted name reads a
    /// nested claim (Keycloak's realm_access.roles). Default: groups.
    #[arg(long = "group-claim", value_name = "NAME", default_value = "groups")]
    group_claims: Vec<String>,
    /// A claim --policy reads as a tag of the person (repeat for more):
    /// `principal.getTag("NAME")`, its string, number or boolean as text; a
    /// dotted name reads a nested claim.
    #[arg(long = "policy-claim", value_name = "NAME")]
    policy_claims: Vec<String>,
    /// A scope every token must carry (repeat for more). Written as a URI
    /// (api://APP/mcp.tools, the form a host asks Entra ID for), a token
    /// whose `scp` holds its last segment (mcp.tools) carries it too.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The token claim naming the workspace (a team or tenant id); by
    /// default each person's own, derived from the issuer and subject.
    #[arg(long, value_name = "NAME")]
    workspace_claim: Option<String>,
    /// What every workspace id starts with.
    #[arg(long, value_name = "P", default_value = "")]
    workspace_prefix: String,
    /// A browser origin that may call this server, besides the public
    /// URL's own (repeat for more): `https://app.example.com`
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// A scope the sign-in at the issuer asks besides those the claims
    /// read need (repeat for more). It asks `openid`; `profile` for a
    /// --subject-claim other than sub; `email` when a claim read is email;
    /// `groups` when a --group-claim is groups and the issuer lists it;
    /// `offline_access` where listed, to stay signed in.
    #[arg(long = "login-scope", value_name = "S")]
    login_scopes: Vec<String>,
    /// The connect page's client at the issuer (its secret in
    /// NEXUS_MCP_LOGIN_CLIENT_SECRET, for a confidential one): needed by
    /// --connect, whose links only the person asked can use.
    #[arg(long, value_name = "ID")]
    login_client_id: Option<String>,
    /// Be the hosts' authorization server: publish this server's own OAuth
    /// metadata, register hosts (or read their client ID metadata
    /// documents), ask each person's consent to each host, and issue this
    /// server's own tokens, for an issuer that lets no host register (Entra
    /// ID, Okta's org server, Google). Needs --login-client-id: people sign
    /// in at the issuer with that client. A host's `state` is returned as
    /// it gave it, up to 1,024 bytes; a longer one is refused.
    #[arg(long)]
    oauth_proxy: bool,
    /// With --oauth-proxy, an origin whose client ID metadata documents are
    /// fetched though it is not public https (repeat for more): a host
    /// inside your network, or a loopback one in development. Elsewhere a
    /// document is fetched over https from public addresses only.
    #[arg(long = "oauth-client-document-origin", value_name = "ORIGIN")]
    document_origins: Vec<String>,
    /// The client that asks the issuer's introspection endpoint about an
    /// opaque access token (RFC 7662; its secret in
    /// NEXUS_MCP_INTROSPECTION_CLIENT_SECRET). Without it, a token that is
    /// not a JWT is refused.
    #[arg(long, value_name = "ID")]
    introspection_client_id: Option<String>,
    /// Check the configuration and serve nothing: the keyring, the issuer's
    /// metadata and keys (its issuer equal to --issuer), --scope among the
    /// scopes it offers, the login and introspection clients accepted by it,
    /// the Gateway answering NEXUS_API_KEY. Exit 0, or 2 with a line per
    /// failing check naming the flag or variable
    #[arg(long)]
    pub(crate) check: bool,
    /// People refused (403) from the moment this replica reads the file, at
    /// start and at SIGHUP: one a line, the `who=` the log shows or `ISSUER
    /// SUBJECT`
    #[arg(long, value_name = "PATH")]
    deny_file: Option<String>,
    /// At most N tool calls a minute per person (keyed on the verified
    /// person, never the address); past it, a tool error naming the wait.
    /// With --store, counted across replicas (a store down: each replica
    /// its share)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) person_rate: Option<u32>,
    /// How long a call a policy asks to approve (@ask) waits for its
    /// approval, and an approval for its call: from a minute to a day, as
    /// 10m or 1h [default: 10m]
    #[arg(long, value_name = "LIFE", value_parser = approval_life)]
    approval_life: Option<Duration>,
    /// Serve Prometheus's scrape at /metrics on this address (no token:
    /// where only the scraper reaches): ADDRESS:PORT
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// With --oauth-proxy, the Redis every replica shares (redis://HOST:PORT
    /// or rediss://…; a password in NEXUS_MCP_STORE or the file
    /// NEXUS_MCP_STORE_FILE names): where a refresh token used twice is
    /// caught on any replica and its sign-in revoked. Only each sign-in's
    /// token generation is kept there, never a token. Without it, reuse is
    /// caught on this replica alone
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// With --oauth-proxy, how long a sign-in holds, however often its
    /// tokens are refreshed, before the person signs in at the issuer
    /// again: hours or days, as 12h or 7d [default: 7d]
    #[arg(long, value_name = "LIFE", value_parser = sign_in_life)]
    sign_in_life: Option<Duration>,
    /// Who may sign in (repeat: any one lets a person in): a claim of the
    /// sign-in's ID token and its value, as hd=acme.com (a Google
    /// Workspace), email=*@acme.com (an e-mail domain, verified), or
    /// groups=engineering (one of a list). Checked at the sign-in, on the
    /// connect page and behind --oauth-proxy alike, and again at each
    /// refresh. Without it, anyone the issuer signs in gets in
    #[arg(long = "allow-sign-in", value_name = "CLAIM=VALUE")]
    allow_sign_in: Vec<String>,
    /// With --oauth-proxy, take an ID-JAG from a public client too (a host
    /// that registered itself), not only from the confidential clients
    /// `serve client add` makes. Trust then rests on the provider's word
    /// alone: nothing proves which host presents an assertion, so a copy
    /// taken within its five minutes is as good as the person
    #[arg(long)]
    id_jag_from_public_clients: bool,
    /// With --oauth-proxy, how long the access token an ID-JAG earns holds
    /// (no refresh token comes with it: the host asks the provider again),
    /// from a minute to an hour, as 15m or 1h [default: 1h]
    #[arg(long, value_name = "LIFE", value_parser = id_jag_token_life)]
    id_jag_token_life: Option<Duration>,
    /// With --oauth-proxy, the issuer of ID-JAGs where it is not --issuer:
    /// Okta issues them from its org authorization server
    /// (`https://acme.okta.com`) while people sign in at a custom one
    /// (`https://acme.okta.com/oauth2/default`). Its ID-JAGs name people as
    /// --issuer's ID tokens do
    #[arg(long, value_name = "URL")]
    id_jag_issuer: Option<String>,
    /// With --check and --oauth-proxy, a client id `serve client add` made
    /// (repeat for more): whether it opens with this keyring as a
    /// confidential client of this server (a failing check if not)
    #[arg(long = "check-client-id", value_name = "ID")]
    check_client_ids: Vec<String>,
    /// With --oauth-proxy and --store, the attribute of a SCIM user
    /// (/scim/v2/Users) that holds the person's --subject-claim: externalId
    /// (Entra's object id, mapped there to objectId, beside --subject-claim
    /// oid) or userName (an e-mail, beside --subject-claim email or upn)
    #[arg(long, value_name = "ATTRIBUTE", default_value = "externalId")]
    scim_subject_attribute: String,
    /// With --oauth-proxy and --store, a Shared Signals transmitter whose
    /// events this server takes (repeat for more): its issuer URL, whose
    /// /.well-known/ssf-configuration gives its keys. CAEP session-revoked
    /// and RISC account-disabled or account-purged revoke the person they
    /// name; `nexus-mcp serve ssf connect` makes the stream
    #[arg(long = "ssf-transmitter", value_name = "URL")]
    ssf_transmitters: Vec<String>,
    /// With --ssf-transmitter, a CAEP credential-change revokes the person
    /// too (a password reset, a key removed)
    #[arg(long)]
    ssf_credential_change_revokes: bool,
}

/// The issuer `--id-jag-issuer` names, if any: a URL of its own.
fn id_jag_issuer(given: Option<&str>) -> Result<Option<Arc<Issuer>>, String> {
    let Some(url) = given.filter(|url| !url.trim().is_empty()) else {
        return Ok(None);
    };
    let read = crate::addresses::read_without_password(url).ok();
    if !read.is_some_and(|read| read.has_host() && matches!(read.scheme(), "https" | "http")) {
        let shown = crate::answer::quoted(url, 256);
        return Err(format!(
            "--id-jag-issuer {shown} is an issuer's URL, as its ID-JAGs name it"
        ));
    }
    Ok(Some(Arc::new(Issuer::new(url))))
}

/// How long an approval waits unless `--approval-life` says otherwise.
const APPROVAL_LIFE: Duration = Duration::from_secs(600);

/// How long an approval waits, as `--approval-life` gives it: from a
/// minute to a day.
fn approval_life(text: &str) -> Result<Duration, String> {
    life_within(text, 60..=24 * 3600, "10m or 1h, from 1m to 1d")
}

/// The life of the access token an ID-JAG earns, as `--id-jag-token-life`
/// gives it: from a minute to an hour.
fn id_jag_token_life(text: &str) -> Result<Duration, String> {
    life_within(text, 60..=3600, "15m or 1h, from 1m to 1h")
}

impl ServeArgs {
    /// The wing these flags set up (its secrets read from their variables,
    /// sealing with `keys`; a sign-in reads groups when `groups_decide`, a
    /// policy being given; `connects` when `--connect` names a provider),
    /// or what is wrong with them, naming the flag or the variable.
    pub(crate) fn checked(
        mut self,
        keys: &Arc<HeldKeys>,
        (groups_decide, connects): (bool, bool),
    ) -> Result<Wing, String> {
        self.refused()?;
        let issuer = one_issuer(&self.issuers)?;
        let site = self.site(&issuer)?;
        let resource = format!("{}{}", site.origin, site.path);
        let claim = self.workspace_claim.filter(|c| !c.trim().is_empty());
        let secret = crate::env::try_var(crate::env::INTROSPECTION_SECRET_VARIABLE)?;
        let introspection = introspection(
            self.introspection_client_id,
            secret.filter(|s| !s.is_empty()),
        )?;
        let policy_claims = crate::principal::PolicyClaims {
            groups: self.group_claims,
            tags: self.policy_claims,
        };
        let reads = Reads {
            subject_claim: self.subject_claim.clone(),
            workspace_claim: claim.clone(),
            policy_claims: policy_claims.clone(),
            admission: site.admission.clone(),
            login_scopes: site.login_scopes.clone(),
            groups_decide,
        };
        let issuer = Arc::new(Issuer::new(&issuer));
        let (page, login_client) = connect_page(&site, reads, (&issuer, keys), connects)?;
        let id_jag = IdJag {
            from_public_clients: self.id_jag_from_public_clients,
            life: self.id_jag_token_life.unwrap_or(ACCESS_LIFE),
            issuer: id_jag_issuer(self.id_jag_issuer.as_deref())?,
        };
        let login = page
            .as_ref()
            .map(|(_, login)| login)
            .filter(|_| self.oauth_proxy);
        let hosts = login.map_or(Hosts::Issuer, |login| {
            let granted = (&self.scopes[..], resource.as_str(), id_jag);
            Hosts::Proxy(Arc::new(front(&site, granted, Arc::clone(login), keys)))
        });
        let gate = Gate {
            issuer,
            hosts,
            resource,
            audiences: self.audiences,
            subject_claim: self.subject_claim,
            policy_claims,
            scopes: self.scopes,
            claim,
            prefix: self.workspace_prefix,
            verified: Default::default(),
            introspection,
        };
        Ok(Wing {
            site,
            gate,
            page,
            login_client,
        })
    }
}

impl ServeArgs {
    /// Where `serve` listens and who it is, as these flags say (the fields
    /// it reads taken from them), for people of `issuer`.
    /// What the identity provider's signals need, with `store`: each
    /// transmitter a URL, and none without a store every replica shares.
    fn signals(&mut self, store: &Store) -> Result<Signals, String> {
        let transmitters = std::mem::take(&mut self.ssf_transmitters);
        let served = self.oauth_proxy && store.shared();
        if !(transmitters.is_empty() || served) {
            return Err(
                "--ssf-transmitter needs --oauth-proxy and --store: a signal revokes a \
                        person on every replica through the store they share"
                    .to_owned(),
            );
        }
        for url in &transmitters {
            let read = crate::addresses::read_without_password(url).ok();
            if !read.is_some_and(|url| url.has_host() && matches!(url.scheme(), "https" | "http")) {
                let shown = crate::answer::quoted(url, 256);
                return Err(format!(
                    "--ssf-transmitter {shown} is the transmitter's issuer URL"
                ));
            }
        }
        let ssf_token = crate::env::try_var(crate::env::SSF_TOKEN_VARIABLE)?;
        Ok(Signals {
            transmitters: transmitters
                .iter()
                .map(|url| Arc::new(Issuer::transmitter(url)))
                .collect(),
            credential_change_revokes: self.ssf_credential_change_revokes,
            ssf_token: ssf_token.filter(|token| !token.trim().is_empty()),
            scim_subject: std::mem::take(&mut self.scim_subject_attribute),
        })
    }

    fn site(&mut self, issuer: &str) -> Result<Site, String> {
        // Both required (clap) unless a subcommand is given, which never gets here.
        let public_url = self.public_url.take().unwrap_or_default();
        let public = https_or_loopback("--public-url", &public_url)?;
        let path = served_path(&public, &public_url)?;
        let origin = public.origin().ascii_serialization();
        let mut origins = vec![origin.clone()];
        for given in &self.allowed_origins {
            origins.push(allowed_origin(given)?);
        }
        let document_origins =
            crate::addresses::origins("--oauth-client-document-origin", &self.document_origins)?;
        let login_client_id = self.login_client_id.take();
        let store = store_at(self.store.take(), StoreGiven::from_env()?)?;
        let signals = self.signals(&store)?;
        let store = Arc::new(store);
        Ok(Site {
            signals,
            approvals: Arc::new(store.approvals(self.approval_life.unwrap_or(APPROVAL_LIFE))),
            admission: Admission::new(&self.allow_sign_in)?,
            deny: Arc::new(deny::DenyList::read(self.deny_file.take(), issuer)?),
            store,
            sign_in_life: self.sign_in_life.unwrap_or(SIGN_IN_LIFE),
            check_client_ids: std::mem::take(&mut self.check_client_ids),
            metrics_listen: self.metrics_listen.take(),
            listen: self.listen.take().unwrap_or_default(),
            path,
            hosts: hosts_of(&public),
            public,
            origins,
            origin,
            login_client_id: login_client_id.filter(|id| !id.trim().is_empty()),
            login_scopes: std::mem::take(&mut self.login_scopes),
            document_origins,
        })
    }

    /// Why these flags cannot be taken, whatever they build: a scope not
    /// one word, `--oauth-proxy` with no login client, a blank audience or
    /// subject claim.
    fn refused(&self) -> Result<(), String> {
        scopes_checked(&self.scopes)?;
        let login = self.login_client_id.as_ref();
        if self.oauth_proxy && login.is_none_or(|id| id.trim().is_empty()) {
            return Err(
                "--oauth-proxy needs --login-client-id: people sign in at the issuer with that \
                 client"
                    .to_owned(),
            );
        }
        if let Some(bad) = self.audiences.iter().find(|a| a.trim().is_empty()) {
            return Err(format!("--audience {bad:?}: an audience is not blank"));
        }
        if self.subject_claim.trim().is_empty() {
            return Err("--subject-claim names a claim (sub, oid, uid …)".to_owned());
        }
        Ok(())
    }
}

/// The hosts' authorization server of `site` (`--oauth-proxy`), its state
/// held once: granting `scopes` for `resource` (and ID-JAGs as `id_jag`
/// allows), signing people in with `login`, sealing with `keys`.
fn front(
    site: &Site,
    (scopes, resource, id_jag): (&[String], &str, IdJag),
    login: Arc<SignIn>,
    keys: &Arc<HeldKeys>,
) -> Front {
    Front {
        origin: site.origin.clone(),
        scopes: scopes.to_vec(),
        resource: resource.to_owned(),
        keys: Arc::clone(keys),
        redeemed: Default::default(),
        issuer: login.issuer.url().to_owned(),
        login,
        deny: Arc::clone(&site.deny),
        documents: Documents::new(site.document_origins.clone()),
        store: Arc::clone(&site.store),
        sign_in_life: site.sign_in_life,
        admission: site.admission.clone(),
        id_jag,
        signals: site.signals.clone(),
        devices: site.store.verdicts(),
        entries: site.store.person_rate(super::grant::DEVICE_ENTRIES),
        called: Default::default(),
    }
}

/// The connect page of `site` with `--login-client-id` (its links and
/// cookies sealed with the `keys` held), logging people in at `issuer` and
/// reading them with `reads`, and the login client `--check` tries; none
/// without it, and `--connect` (`connects`) without it is refused.
fn connect_page(
    site: &Site,
    reads: Reads,
    (issuer, keys): (&Arc<Issuer>, &Arc<HeldKeys>),
    connects: bool,
) -> Result<(Option<Page>, Option<LoginClient>), String> {
    let Some(id) = &site.login_client_id else {
        if connects {
            return Err(
                "--connect in serve needs --login-client-id (and NEXUS_MCP_LOGIN_CLIENT_SECRET \
                 for a confidential client): a consent link goes only to the person who was \
                 asked, whose login at the issuer the connect page checks"
                    .to_owned(),
            );
        }
        return Ok((None, None));
    };
    let secret = crate::env::try_var(crate::env::LOGIN_SECRET_VARIABLE)?;
    let secret = secret.filter(|s| !s.is_empty());
    let login_client = LoginClient {
        id: id.clone(),
        secret: secret.clone(),
        callback: format!("{}/connect/callback", site.origin),
    };
    // The connect page's links open under every key of the ring, the first seals.
    let links = Arc::new(Links::new(&site.origin, Arc::clone(keys)));
    let sealed_with = (site.origin.clone(), Arc::clone(keys));
    let login = SignIn::new(Arc::clone(issuer), (id, secret), sealed_with, reads);
    Ok((Some((links, Arc::new(login))), Some(login_client)))
}

/// The wing these flags build, each part made once: where it listens and
/// who it is, the resource server in front of MCP (holding, with
/// `--oauth-proxy`, the hosts' authorization server), and the connect page
/// and its login client at the issuer (with `--login-client-id`).
pub(crate) struct Wing {
    pub(crate) site: Site,
    pub(crate) gate: Gate,
    pub(crate) page: Option<Page>,
    pub(crate) login_client: Option<LoginClient>,
}

/// The connect page: its links, and its login.
pub(crate) type Page = (Arc<Links>, Arc<SignIn>);

/// The `Host` values a request to `public` may carry: its host, and with
/// its port when it names one.
fn hosts_of(public: &url::Url) -> Vec<String> {
    let host = public.host_str().unwrap_or_default().to_owned();
    let port = public.port().map(|port| format!("{host}:{port}"));
    std::iter::once(host).chain(port).collect()
}

/// `Ok` when each `--scope` is one word, and none is `offline_access`.
fn scopes_checked(scopes: &[String]) -> Result<(), String> {
    let word = |s: &&String| s.is_empty() || s.contains([' ', '"']);
    if let Some(bad) = scopes.iter().find(word) {
        return Err(format!("--scope {bad:?}: a scope is one word"));
    }
    if scopes.iter().any(|s| s == "offline_access") {
        return Err(
            "--scope offline_access: a refresh token is the client's to ask for, never a \
             resource's to require (MCP's authorization rules)"
                .to_owned(),
        );
    }
    Ok(())
}

/// The introspection client `--introspection-client-id` names, with its
/// `secret`; none without the flag; refused without the secret.
fn introspection(
    id: Option<String>,
    secret: Option<String>,
) -> Result<Option<Introspection>, String> {
    match (id.filter(|id| !id.trim().is_empty()), secret) {
        (Some(id), Some(secret)) => Ok(Some(Introspection::new(&id, &secret))),
        (Some(_), None) => Err("--introspection-client-id needs its secret in \
                                NEXUS_MCP_INTROSPECTION_CLIENT_SECRET"
            .to_owned()),
        (None, _) => Ok(None),
    }
}

/// `url`, when it is https, or http on a loopback host; no user or
/// password, no query, no fragment. A refusal shows the URL as
/// [`shown`] does: never a password, nor the text of one that does not parse.
fn https_or_loopback(flag: &str, url: &str) -> Result<url::Url, String> {
    let parsed = read_without_password(url).map_err(|why| format!("{flag} {why}"))?;
    let said = shown(url);
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" | "http" if parsed.query().is_some() || parsed.fragment().is_some() => Err(
            format!("{flag} {said}: a URL with no query and no fragment"),
        ),
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{flag} {said}: https, or http only on a loopback host (tokens and consent would \
             cross the network in the clear)"
        )),
    }
}

/// An `--allowed-origin`: a scheme and a host (and a port), never a
/// pattern that lets any site in.
fn allowed_origin(given: &str) -> Result<String, String> {
    let refused = || {
        format!(
            "--allowed-origin {}: an origin such as https://app.example.com; a wildcard or \
             `null` would let any site call this server with its users' browsers",
            shown(given)
        )
    };
    let parsed = read_without_password(given).map_err(|_| refused())?;
    let origin = parsed.origin();
    let whole = parsed.path() == "/" && parsed.query().is_none() && parsed.fragment().is_none();
    if !origin.is_tuple() || !whole || given.contains('*') {
        return Err(refused());
    }
    Ok(origin.ascii_serialization())
}

/// The path MCP is served at: `public`'s (the `--public-url` `given`),
/// without a trailing `/`; an origin alone is refused.
fn served_path(public: &url::Url, given: &str) -> Result<String, String> {
    let path = public.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        return Err(format!(
            "--public-url {}: the URL MCP is served at, its path included \
             (https://mcp.example.com/mcp), not only an origin",
            shown(given)
        ));
    }
    Ok(path)
}

/// The one `--issuer` given, an https (or loopback) URL; or why not. One
/// `serve` serves one issuer.
fn one_issuer(given: &[String]) -> Result<String, String> {
    let [issuer] = given else {
        return Err(format!(
            "--issuer given {} times: one serve serves one issuer. A team with two providers \
             federates one into the other at the provider (Entra ID or Okta signing in Google \
             accounts, say), or runs a deployment of its own, on a host of its own, for each",
            given.len()
        ));
    };
    https_or_loopback("--issuer", issuer)?;
    Ok(issuer.clone())
}

/// Where `serve` listens and who it is.
pub(crate) struct Site {
    /// `--listen`.
    pub(crate) listen: String,
    /// `--public-url`'s path, where MCP is served (`/mcp`).
    pub(crate) path: String,
    /// `--public-url`, whose authority (its port included) a `Host` names.
    pub(crate) public: url::Url,
    /// The `Host` values a request may carry (the public URL's authority).
    pub(crate) hosts: Vec<String>,
    /// The browser origins a request may come from (`--allowed-origin`, and
    /// the public URL's own).
    pub(crate) origins: Vec<String>,
    /// The public URL's origin, where the connect page is.
    pub(crate) origin: String,
    /// `--login-client-id`.
    pub(crate) login_client_id: Option<String>,
    /// `--login-scope`s.
    pub(crate) login_scopes: Vec<String>,
    /// `--oauth-client-document-origin`s, each as a URL's origin.
    pub(crate) document_origins: Vec<String>,
    /// `--deny-file`'s people.
    pub(crate) deny: Arc<deny::DenyList>,
    /// `--metrics-listen`.
    pub(crate) metrics_listen: Option<String>,
    /// `--store`: where refresh-token families are kept.
    pub(crate) store: Arc<Store>,
    /// Where the verdicts on calls a policy asks to approve wait
    /// (`--approval-life`; in the store every replica shares, if any).
    pub(crate) approvals: Arc<crate::approval::Approvals>,
    /// `--sign-in-life`.
    pub(crate) sign_in_life: Duration,
    /// `--check-client-id`s.
    pub(crate) check_client_ids: Vec<String>,
    /// `--ssf-transmitter`s, `--ssf-credential-change-revokes`,
    /// `NEXUS_MCP_SSF_TOKEN`, `--scim-subject-attribute`.
    pub(crate) signals: Signals,
    /// `--allow-sign-in`.
    pub(crate) admission: Admission,
}

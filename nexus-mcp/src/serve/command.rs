//! What `serve` does for its operator beside serving: `serve client add`,
//! a confidential client for a host (its id sealed with the replicas'
//! keyring, its secret shown once), and `serve revoke --person`, a person
//! out now, on every replica, through the store the replicas share.

use std::process::ExitCode;

use base64::Engine as _;

use super::actions::{
    Action, ClientAction, ClientArgs, RevokeArgs, ScimAction, SessionsArgs, SsfAction, SsfArgs,
};
use super::grant::{ClientAuth, GrantType};
use super::revoked::{PERSON_DIGITS, Revoked};
use super::store::{Down, Served, Store, StoreGiven, WATCH_EVERY, store_at};

/// Runs `action`: what it did on stdout, or why not on stderr (exit 2 for
/// what the operator gave, 1 for a store that does not answer).
pub(crate) fn run(action: Action) -> ExitCode {
    let done = match action {
        Action::Revoke(args) => revoke(args),
        Action::Sessions(args) => sessions(args),
        Action::Client(ClientAction::Add(args)) => client_added(args),
        Action::Scim(ScimAction::Token(args)) => scim_token(&args.public_url),
        Action::Ssf(SsfAction::Connect(args)) => ssf_connected(&args),
    };
    match done {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err((code, why)) => {
            eprintln!("nexus-mcp serve: {why}");
            ExitCode::from(code)
        }
    }
}

/// `serve revoke --person` (or `--client`, or both: one agent's session for
/// one person): what it revoked, or the exit code and why not.
fn revoke(args: RevokeArgs) -> Result<String, (u8, String)> {
    let client = args.client.as_deref().map(|mark| {
        let why = "--client names a client by its mark: the 12 hex digits `serve client add` \
                   printed, or a log line's client= or oauth_client=";
        Revoked::client(mark.trim()).ok_or((2, why.to_owned()))
    });
    let client = client.transpose()?;
    if args.person.is_empty() {
        return client.map_or(Err((2, "--person or --client".to_owned())), |client| {
            revoke_client(client, args.store)
        });
    }
    let person = match &args.person[..] {
        [issuer, subject] if !subject.trim().is_empty() => {
            Revoked::person(&crate::principal::person(issuer, subject))
        }
        [hash] => Revoked::person(hash),
        _ => None,
    };
    let Some(Revoked::Person(who)) = person else {
        let why = format!(
            "--person names a person: ISSUER SUBJECT, or the hash the log prints (who=, \
             {PERSON_DIGITS} hex digits or more)"
        );
        return Err((2, why));
    };
    let (store, runtime) = stored(args.store, "person")?;
    let down = |Down(why)| (1, format!("{why}: nothing was revoked"));
    let named = match &args.person[..] {
        [issuer, subject] => Some((issuer.as_str(), subject.as_str())),
        _ => None,
    };
    if let Some(named) = named {
        let served = runtime.block_on(store.served()).map_err(down)?;
        if let Some(why) = revokes_nobody(named, &served) {
            return Err((2, why));
        }
    }
    let unseen = runtime
        .block_on(unseen(&store, &who, named))
        .map_err(down)?;
    let (revoked, said) = match client {
        Some(Revoked::Client(mark)) => (
            Revoked::Session(who.clone(), mark.clone()),
            format!(
                "revoked the session of client={mark} for who={who}: every code, refresh token \
                 and access token that agent was granted for them before now is refused on \
                 every replica within {} s; their other agents, and that agent's other people, \
                 stay",
                WATCH_EVERY.as_secs()
            ),
        ),
        _ => (
            Revoked::Person(who.clone()),
            format!(
                "revoked who={who}: every sign-in, refresh token and access token issued to \
                 them before now is refused on every replica within {} s; they may sign in \
                 again at the issuer (to keep them out, deny them there or in --deny-file)",
                WATCH_EVERY.as_secs()
            ),
        ),
    };
    runtime.block_on(store.revoke(revoked)).map_err(down)?;
    match unseen {
        Some(why) => Err((2, why)),
        None => Ok(said),
    }
}

/// `serve revoke --client`: the client revoked in the store `store` names.
fn revoke_client(client: Revoked, store: Option<String>) -> Result<String, (u8, String)> {
    let (store, runtime) = stored(store, "client")?;
    let done = runtime.block_on(store.revoke(client.clone()));
    done.map_err(|Down(why)| (1, format!("{why}: nothing was revoked")))?;
    // Its word in the list, `client:MARK`, as --deny-file writes it.
    let mark = client.member().replacen(':', "=", 1);
    Ok(format!(
        "revoked {mark}: every code, refresh token and access token granted to it \
         before now is refused on every replica within {} s; a host may sign people in \
         with it again (to keep it out, name it in --deny-file: {mark})",
        WATCH_EVERY.as_secs()
    ))
}

/// The store `flag` (or the environment) names, shared by the replicas,
/// and a runtime to ask it on; or why not (naming the deny file, where a
/// `what` is kept out without a store).
fn stored(
    flag: Option<String>,
    what: &str,
) -> Result<(Store, tokio::runtime::Runtime), (u8, String)> {
    let given = StoreGiven::from_env().map_err(|why| (2, why))?;
    let store = store_at(flag, given).map_err(|why| (2, why))?;
    if !store.shared() {
        let why = format!(
            "no store is given (--store, or NEXUS_MCP_STORE): replicas share a revocation only \
             through their store; without one, name the {what} in --deny-file and send each \
             replica SIGHUP"
        );
        return Err((2, why));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = runtime.map_err(|e| (1, format!("cannot start the runtime: {e}")))?;
    Ok((store, runtime))
}

/// Why `(issuer, subject)` would revoke nobody the replicas `served` know
/// (each issuer and the claim naming its people, as the replicas said):
/// an issuer none serves, byte for byte (one they serve spelled otherwise
/// named), or an e-mail where that issuer's people are named by an id.
/// None when no replica said what it serves (older ones do not).
fn revokes_nobody((issuer, subject): (&str, &str), served: &[Served]) -> Option<String> {
    if served.is_empty() {
        return None;
    }
    let Some(serving) = served.iter().find(|s| s.issuer == issuer) else {
        let loose = |text: &str| text.trim_end_matches('/').to_ascii_lowercase();
        let near = served.iter().find(|s| loose(&s.issuer) == loose(issuer));
        let shown: Vec<String> = served.iter().map(|s| format!("{:?}", s.issuer)).collect();
        let near = near.map_or(String::new(), |s| {
            format!(" (they write it {:?}, byte for byte)", s.issuer)
        });
        return Some(format!(
            "no replica serves the issuer {}{near}: a revocation names the issuer as the \
             replicas' --issuer does, and they serve {}; nothing was revoked",
            crate::answer::quoted(issuer, 256),
            shown.join(", ")
        ));
    };
    let claim = serving.subject_claim.as_str();
    let mail = super::revoked::MAIL_CLAIMS.contains(&claim);
    (subject.contains('@') && !mail).then(|| {
        format!(
            "the replicas serving this issuer name people by `{claim}`, which is no e-mail \
             address: a subject with an @ names nobody there (the log's who=, or the person's \
             `{claim}`, does); nothing was revoked"
        )
    })
}

/// Why revoking the person `who` names nobody who signed in here: the
/// store, which keeps every sign-in's person while it may live, knows none
/// of theirs. Where the subject was `named`, the same subject in another
/// case that did sign in is named (a subject is matched byte for byte).
/// None when they signed in, or the store cannot tell (it began less than
/// a sign-in's life ago). They are revoked all the same, as a Global Token
/// Revocation of a subject unknown here is: a store that forgot a sign-in
/// leaves nobody in.
async fn unseen(
    store: &Store,
    who: &str,
    named: Option<(&str, &str)>,
) -> Result<Option<String>, Down> {
    if store.seen(who).await? {
        return Ok(None);
    }
    let mut near = String::new();
    if let Some((issuer, subject)) = named {
        let mut first = subject.chars();
        let capital = first
            .next()
            .map(|c| c.to_uppercase().chain(first.flat_map(char::to_lowercase)));
        let cases = [
            subject.to_lowercase(),
            subject.to_uppercase(),
            capital.map_or_else(String::new, String::from_iter),
        ];
        for other in cases
            .iter()
            .filter(|other| *other != subject && !other.is_empty())
        {
            let digits = crate::principal::person(issuer, other);
            if store.seen(&digits[..PERSON_DIGITS]).await? {
                near = format!(
                    " (the subject {} did sign in: a subject is named byte for byte)",
                    crate::answer::quoted(other, 256)
                );
                break;
            }
        }
    }
    Ok(Some(format!(
        "no sign-in of who={who} is known here: the store keeps each sign-in's person while it \
         may live{near}; revoked all the same (in case the store forgot one), but this names \
         nobody who signed in"
    )))
}

/// The replicas' keys, and the origin of the server at `public_url`
/// (`--public-url`), or why not.
fn keyed_for(public_url: &str) -> Result<(crate::keys::Keys, String), (u8, String)> {
    let keys = crate::keys::Keys::read().map_err(|why| (2, why))?;
    let public = crate::addresses::read_without_password(public_url).ok();
    let public = public.filter(|u| u.has_host());
    let public = public.ok_or((
        2,
        "--public-url is serve's URL (https://HOST/mcp, with no user or password)".to_owned(),
    ))?;
    Ok((keys, public.origin().ascii_serialization()))
}

/// `serve scim token`: the Tenant URL and Secret Token a provider's SCIM
/// provisioning asks for, or why not.
fn scim_token(public_url: &str) -> Result<String, (u8, String)> {
    let (keys, origin) = keyed_for(public_url)?;
    let sealed = super::signals::ScimToken {
        scim_for: origin.clone(),
    };
    let token = crate::keys::Sealing::named(&keys.oauth.scim, &sealed, super::oauth::CLIENT_LIFE);
    eprintln!(
        "nexus-mcp serve scim token: the secret is shown once, on stdout, and kept nowhere; \
         every replica with this keyring and --store checks it for {} days; a user's \
         --scim-subject-attribute (externalId unless said) must hold the person's \
         --subject-claim",
        super::oauth::CLIENT_LIFE.as_secs() / 86400
    );
    Ok(format!(
        "Tenant URL: {origin}{}\nSecret Token: {token}",
        super::signals::SCIM_BASE
    ))
}

/// `serve ssf connect`: the stream's configuration as JSON, or why not.
fn ssf_connected(args: &SsfArgs) -> Result<String, (u8, String)> {
    let (keys, origin) = keyed_for(&args.public_url)?;
    let token = crate::env::try_var(crate::env::SSF_TOKEN_VARIABLE).map_err(|why| (2, why))?;
    let token = token.filter(|token| !token.trim().is_empty()).ok_or((
        2,
        "NEXUS_MCP_SSF_TOKEN (or its _FILE twin) holds the bearer token the transmitter \
         takes for its streams"
            .to_owned(),
    ))?;
    let stream =
        super::signals::ssf_connect((&args.transmitter, &token), (&origin, &keys), args.poll);
    let (stream, said) = stream.map_err(|why| (1, format!("no stream was made: {why}")))?;
    for line in said {
        eprintln!("nexus-mcp serve ssf connect: {line}");
    }
    Ok(stream.to_string())
}

/// `serve sessions --person`: each agent acting for the person, one a
/// line, or why they cannot be listed.
fn sessions(args: SessionsArgs) -> Result<String, (u8, String)> {
    let [issuer, subject] = &args.person[..] else {
        return Err((2, "--person ISSUER SUBJECT".to_owned()));
    };
    let person = super::revoked::Named::of(issuer, "sub", subject);
    let (store, runtime) = stored(args.store, "person")?;
    let listed = runtime.block_on(store.sessions(&person));
    let listed = listed.map_err(|Down(why)| (1, format!("{why}: nothing was listed")))?;
    let when = |ms: u64| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let lines: Vec<String> = (listed.iter())
        .map(|(session, live)| {
            format!(
                "agent=\"{}\" client={} scopes=\"{}\" since={} until={} last={}{}",
                crate::answer::quoted(&session.name, 64),
                session.client,
                crate::answer::quoted(&session.scopes.join(" "), 256),
                when(session.since),
                when(session.until),
                session.last.map_or("none".to_owned(), when),
                if *live { "" } else { " ended" }
            )
        })
        .collect();
    match lines.is_empty() {
        true => Ok(format!(
            "no agent has acted for who={} lately",
            &person.exact[..PERSON_DIGITS]
        )),
        false => Ok(lines.join("\n")),
    }
}

/// `serve client add`: the registration as JSON, or why not.
fn client_added(args: ClientArgs) -> Result<String, (u8, String)> {
    let (keys, origin) = keyed_for(&args.public_url)?;
    let mut bytes = [0u8; 32];
    let random = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    random.map_err(|_| (1, "the system gives no randomness".to_owned()))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = super::oauth::secret_hash(&secret);
    let life = args.session_life.map(|life| life.as_secs());
    let named = (args.name, args.scope, life);
    let client = super::oauth::confidential(named, args.redirect_uris, (hash, origin.clone()));
    let mut client = client.map_err(|why| (2, why))?;
    client.grants = (args.grants.iter())
        .map(|g| g.as_str().to_owned())
        .collect();
    client.workspace = args.workspace;
    let itself = client.workspace.is_some();
    let id = crate::keys::Sealing::named(&keys.oauth.clients, &client, super::oauth::CLIENT_LIFE);
    let mark = crate::principal::sha256_hex(&[id.as_bytes()]);
    eprintln!(
        "nexus-mcp serve client add: the secret is shown once, on stdout, and kept nowhere; \
         the --deny-file line client={} withdraws the client; it opens until {} days from now \
         (--check-client-id warns 30 days before: make its successor then, and give the host \
         both until it has moved). At the identity provider (Okta Cross App Access: the \
         resource app's requesting app), map the app to this client_id; Issuer URL and \
         Audience {origin}",
        &mark[..12],
        super::oauth::CLIENT_LIFE.as_secs() / 86400
    );
    let issued = jsonwebtoken::get_current_timestamp();
    let registration = serde_json::json!({
        "client_id": id,
        "client_secret": secret,
        "client_id_issued_at": issued,
        "client_id_expires_at": issued + super::oauth::CLIENT_LIFE.as_secs(),
        "client_secret_expires_at": 0,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": GrantType::ALL
            .into_iter()
            .filter(|g| !GrantType::NAMED.contains(g) || args.grants.contains(g))
            .filter(|g| *g != GrantType::ClientCredentials || itself)
            .map(GrantType::as_str)
            .collect::<Vec<_>>(),
        "response_types": ["code"],
        "token_endpoint_auth_method": ClientAuth::ClientSecretBasic.as_str(),
    });
    let mut registration = registration;
    if let Some(scopes) = &client.scopes {
        registration["scope"] = serde_json::json!(scopes.join(" "));
    }
    if let Some(life) = client.session_life {
        registration["session_life"] = serde_json::json!(life);
    }
    Ok(registration.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(issuer: &str, claim: &str) -> Served {
        Served {
            issuer: issuer.into(),
            subject_claim: claim.into(),
        }
    }

    #[test]
    fn a_person_no_replica_would_know_is_refused_and_said_why() {
        let okta = [served("https://acme.okta.com/oauth2/default", "sub")];
        let refused = |issuer: &str, subject: &str| revokes_nobody((issuer, subject), &okta);
        assert_eq!(
            refused("https://acme.okta.com/oauth2/default", "00u1abc"),
            None
        );
        for spelled in [
            "https://acme.okta.com/oauth2/default/",
            "https://ACME.okta.com/oauth2/default",
        ] {
            let why = refused(spelled, "00u1abc").expect(spelled);
            assert!(why.contains("byte for byte"), "{why}");
        }
        let elsewhere = refused("https://login.example", "00u1abc").unwrap();
        assert!(
            elsewhere.contains("https://acme.okta.com/oauth2/default"),
            "{elsewhere}"
        );
        assert!(refused("https://acme.okta.com/oauth2/default", "alice@acme.com").is_some());
        let mail = [served("https://login.example", "email")];
        assert_eq!(
            revokes_nobody(("https://login.example", "a@b.c"), &mail),
            None
        );
        assert_eq!(
            revokes_nobody(("https://x.example", "a@b.c"), &[]),
            None,
            "none said"
        );
    }
}

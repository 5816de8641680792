//! What `serve` does for its operator beside serving, as the command line
//! names it (`serve revoke`, `serve sessions`, `serve client add`, `serve
//! ssf connect`, `serve scim token`), and the lives its flags take
//! ([`life_within`]); [`super::command`] does each.

use std::time::Duration;

/// `serve`'s operator commands.
#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Takes a person (or a client) out now, on every replica: every
    /// sign-in, refresh token and access token issued to them before now is
    /// refused within seconds, through the store the replicas share (--store, or
    /// NEXUS_MCP_STORE and its _FILE and _PASSWORD twins, as `serve` reads
    /// them). They may sign in again at the issuer: to keep them out, deny
    /// them there or in --deny-file.
    Revoke(RevokeArgs),
    /// Lists each agent acting for a person (with --oauth-proxy and
    /// --store): its name, client mark, scopes, since and until when, and
    /// whether a revocation ended it. One ended alone: `serve revoke
    /// --person ISSUER SUBJECT --client MARK`.
    Sessions(SessionsArgs),
    /// The clients of `serve --oauth-proxy` an operator makes.
    #[command(subcommand)]
    Client(ClientAction),
    /// Shared Signals (with --oauth-proxy, --store and --ssf-transmitter).
    #[command(subcommand)]
    Ssf(SsfAction),
    /// SCIM provisioning (`/scim/v2/Users`, with --oauth-proxy and --store):
    /// the identity provider deactivating a person revokes them.
    #[command(subcommand)]
    Scim(ScimAction),
}

/// `serve ssf`'s actions.
#[derive(clap::Subcommand)]
pub(crate) enum SsfAction {
    /// Makes a stream at a transmitter for this server, pushing CAEP and
    /// RISC events to its /ssf/events with an authorization header sealed
    /// with the replicas' keyring (or, with --poll, for the replicas to
    /// poll), and asks its verification; prints the stream's configuration
    /// as the transmitter answers it. The transmitter is asked with the
    /// bearer token NEXUS_MCP_SSF_TOKEN (or its _FILE twin) holds, which the
    /// replicas need too to poll.
    Connect(SsfArgs),
}

/// `serve ssf connect`'s flags.
#[derive(clap::Args)]
pub(crate) struct SsfArgs {
    /// The transmitter's issuer URL, as `serve --ssf-transmitter` names it.
    #[arg(long, value_name = "URL")]
    pub(crate) transmitter: String,
    /// `serve --public-url`: the stream is that server's.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: String,
    /// The replicas poll the transmitter (RFC 8936), for a server the
    /// transmitter cannot reach; else it pushes (RFC 8935).
    #[arg(long)]
    pub(crate) poll: bool,
}

/// `serve scim`'s actions.
#[derive(clap::Subcommand)]
pub(crate) enum ScimAction {
    /// The Tenant URL and the Secret Token a provider's SCIM provisioning
    /// asks for (Entra's, Okta's), on stdout, the secret this once and kept
    /// nowhere. Run with the replicas' keyring (as `serve client add`): any
    /// replica then checks it; it ends with its key leaving the keyring, or
    /// after 400 days.
    Token(ScimArgs),
}

/// `serve scim token`'s flags.
#[derive(clap::Args)]
pub(crate) struct ScimArgs {
    /// `serve --public-url`: the token is that server's, and no other's.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: String,
}

/// `serve client`'s commands.
#[derive(clap::Subcommand)]
pub(crate) enum ClientAction {
    /// A confidential client for a host (one that sends ID-JAGs, or signs
    /// people in with a secret): prints on stdout the registration (RFC
    /// 7591) as JSON, its client_secret shown this once and kept nowhere.
    /// Run with the replicas' keyring (NEXUS_MCP_STATE_KEY or
    /// NEXUS_MCP_STATE_KEYS, or their _FILE twins): any replica then
    /// checks it; it is withdrawn by its key leaving the keyring.
    Add(ClientArgs),
}

/// `serve revoke`'s flags.
#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    /// The person: the issuer exactly as `serve --issuer` names it and their
    /// subject (the claim --subject-claim reads), or the hash the log
    /// prints for them (`who=`, 12 hex digits or more).
    #[arg(long, num_args = 1..=2, value_names = ["ISSUER", "SUBJECT"], required_unless_present = "client")]
    pub(crate) person: Vec<String>,
    /// A client instead: its mark, as `serve client add` printed it and a
    /// log line's `client=` or `oauth_client=` shows it (12 hex digits or
    /// more). Every code, refresh token and access token granted to it
    /// before now is refused on every replica within seconds; to keep it
    /// out, name it in --deny-file too. With --person: that agent's
    /// session for that person alone.
    #[arg(long, value_name = "MARK")]
    pub(crate) client: Option<String>,
    /// The store every replica reads, as `serve --store` takes it.
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,
}

/// `serve client add`'s flags.
#[derive(clap::Args)]
pub(crate) struct ClientArgs {
    /// The client's name, as a consent page shows it.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,
    /// A redirect URI the client may use (repeat for more; none for a host
    /// that uses the ID-JAG grant alone).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub(crate) redirect_uris: Vec<String>,
    /// `serve --public-url`: the client is that server's, and no other's.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: String,
    /// The agent's boundary: the scopes its tokens hold at most
    /// (space-separated): PROVIDER:read (GET, HEAD, OPTIONS and GraphQL
    /// queries), PROVIDER:write (anything there), or any other word as a
    /// custom scope policies read. Without it, the client's tokens hold the
    /// server's --scope and everything the person may.
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// How long a person's grant to this agent lives, whatever its
    /// refreshes (12h, 7d; from 1h to 400d, and at most the server's
    /// --sign-in-life): then the person grants it again.
    #[arg(long, value_name = "LIFE", value_parser = sign_in_life)]
    pub(crate) session_life: Option<std::time::Duration>,
    /// A grant the client may use beside the code, refresh and ID-JAG
    /// grants (repeat for more): token-exchange (RFC 8693), an agent
    /// exchanging a token this server issued for one that acts for the same
    /// person through it; device-code (RFC 8628), a headless agent a person
    /// lets act for them by typing its code at /device.
    #[arg(long = "grant", value_name = "GRANT", value_parser = named_grant)]
    pub(crate) grants: Vec<super::grant::GrantType>,
    /// A workspace of the agent's own, in which it acts as itself for no
    /// person, by the client credentials grant (RFC 6749 §4.4): the
    /// policy's principal Agent::"MARK", its own line and rate. Its
    /// connections are made as stdio's are: `nexus connect WORKSPACE …`.
    #[arg(long, value_name = "WORKSPACE", value_parser = own_workspace)]
    pub(crate) workspace: Option<String>,
}

/// A workspace `serve client add --workspace` names: one line of printable
/// text.
fn own_workspace(text: &str) -> Result<String, String> {
    let printable = !text.is_empty() && text.len() <= 256 && !text.chars().any(char::is_control);
    printable
        .then(|| text.to_owned())
        .ok_or_else(|| "a workspace is one line of at most 256 bytes".to_owned())
}

/// A grant `serve client add --grant` names.
fn named_grant(text: &str) -> Result<super::grant::GrantType, String> {
    super::grant::GrantType::named(text).ok_or_else(|| {
        format!("{text:?} is no grant a client is registered for: token-exchange or device-code")
    })
}

/// `serve sessions`'s flags.
#[derive(clap::Args)]
pub(crate) struct SessionsArgs {
    /// The person: the issuer exactly as `serve --issuer` names it and their
    /// subject (the claim --subject-claim reads).
    #[arg(long, num_args = 2, value_names = ["ISSUER", "SUBJECT"])]
    pub(crate) person: Vec<String>,
    /// The store every replica reads, as `serve --store` takes it.
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,
}

/// A sign-in's life as `--sign-in-life` gives it: from an hour to 400 days.
pub(super) fn sign_in_life(text: &str) -> Result<Duration, String> {
    life_within(text, 3600..=400 * 24 * 3600, "12h or 7d, from 1h to 400d")
}

/// A life of whole minutes, hours or days (`15m`, `12h`, `7d`), within
/// `bounds` (seconds), or why not, with `examples`.
pub(super) fn life_within(
    text: &str,
    bounds: std::ops::RangeInclusive<u64>,
    examples: &str,
) -> Result<Duration, String> {
    let why = || format!("{text:?} is a life in minutes, hours or days, as {examples}");
    let text = text.trim();
    let (number, unit) = match text.split_at_checked(text.len().saturating_sub(1)) {
        Some((number, "m")) => (number, 60),
        Some((number, "h")) => (number, 3600),
        Some((number, "d")) => (number, 24 * 3600),
        _ => return Err(why()),
    };
    let number: u64 = number.parse().map_err(|_| why())?;
    let life = number.saturating_mul(unit);
    bounds
        .contains(&life)
        .then(|| Duration::from_secs(life))
        .ok_or_else(why)
}

//! `nexus-mcp policy`: the schema printed, a file checked, a call
//! decided as the server would decide it: an operator's way to try a
//! policy before SIGHUP, and in their own CI.

use std::path::Path;

use crate::policy::{Attributes, Decision, Policies, SCHEMA, Sending, Who};

/// `nexus-mcp policy`'s flags.
#[derive(clap::Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    what: PolicyCommand,
}

/// What `nexus-mcp policy` does.
#[derive(clap::Subcommand)]
enum PolicyCommand {
    /// Print the schema policies are written against (Cedar's schema format).
    Schema,
    /// Parse and validate FILE: exit 0, or 2 with each error's line and
    /// column and its fix.
    Check {
        file: std::path::PathBuf,
        /// A provider's published GraphQL schema (SDL), PROVIDER=FILE
        /// (repeat): each field name a policy compares with
        /// context.graphql.fields must be a root field of it.
        #[arg(long = "graphql-schema", value_name = "PROVIDER=FILE", value_parser = tag)]
        schemas: Vec<(String, String)>,
    },
    /// Decide a call with --policy FILE, as the server would: the decision
    /// and the policies that made it (exit 0 permitted, 1 denied).
    Explain(Box<Explained>),
}

/// A call to decide (`nexus-mcp policy explain`).
#[derive(clap::Args)]
struct Explained {
    /// The person, as --subject-claim names them (`stdio` over stdio).
    #[arg(long, required_unless_present = "itself", conflicts_with = "itself")]
    person: Option<String>,
    /// The agent acts as itself, for no person (client credentials): the
    /// principal is Agent::"MARK", --agent-id's.
    #[arg(long, requires = "agent")]
    itself: bool,
    /// A group the person is in (repeat).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// A tag of the person, NAME=VALUE, as --policy-claim reads a claim
    /// (repeat).
    #[arg(long = "tag", value_name = "NAME=VALUE", value_parser = tag)]
    tags: Vec<(String, String)>,
    /// The name the MCP client gives (`context.client`).
    #[arg(long, default_value = "?")]
    client: String,
    /// The method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The URL, as the model would ask it (the provider is --provider's,
    /// the account --account's label, if any).
    #[arg(long)]
    url: String,
    /// A request header, NAME:VALUE (repeat): `Content-Type`, an override.
    #[arg(long = "header", value_name = "NAME:VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// The request's body, as the model would send it.
    #[arg(long)]
    body: Option<String>,
    /// The agent the call's token was issued to, by its registered name
    /// (`context.agent`; none: a token no agent is named in).
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// The scopes the agent's token holds (space-separated).
    #[arg(
        long = "agent-scopes",
        value_name = "SCOPES",
        default_value = "",
        requires = "agent"
    )]
    agent_scopes: String,
    /// How the agent's client was registered: administrator, dynamic,
    /// document or id-jag.
    #[arg(long = "agent-registered", value_name = "HOW", default_value = "dynamic",
          value_parser = clap::builder::PossibleValuesParser::new(crate::agents::REGISTERED),
          requires = "agent")]
    agent_registered: String,
    /// The agent's client's mark (`oauth_client=` in a line).
    #[arg(
        long = "agent-id",
        value_name = "MARK",
        default_value = "000000000000",
        requires = "agent"
    )]
    agent_id: String,
    /// The agents it acts through, where its token was exchanged for
    /// another's (their marks, space-separated, the nearest first:
    /// `context.agent.through`).
    #[arg(
        long = "agent-through",
        value_name = "MARKS",
        default_value = "",
        requires = "agent"
    )]
    agent_through: String,
}

impl Explained {
    /// The agent `--agent` names, as its token would carry it.
    fn agent(&self) -> Option<crate::agents::Agent> {
        Some(crate::agents::Agent {
            name: self.agent.clone()?,
            boundary: None,
            scopes: self
                .agent_scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            registered: self.agent_registered.clone(),
            session_life: None,
            through: (self.agent_through.split_whitespace())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// `nexus-mcp policy …` (`file`, `--policy`'s; `named`, `--provider`'s
/// and `--account`'s first; `graphql`, `--graphql-endpoint`'s): what it
/// prints, and its exit code.
pub(crate) fn command(
    args: &PolicyArgs,
    file: Option<&Path>,
    named: (Option<&String>, Option<&String>),
    graphql: &[(String, String)],
) -> std::process::ExitCode {
    match &args.what {
        PolicyCommand::Explain(call) => return explain(call, file, named, graphql),
        PolicyCommand::Schema => print!("{SCHEMA}"),
        PolicyCommand::Check { file, schemas } => match Policies::read(file) {
            Ok(policies) => {
                let unknown = match unknown_fields(file, &policies, schemas) {
                    Ok(unknown) => unknown,
                    Err(why) => vec![why],
                };
                if !unknown.is_empty() {
                    (unknown.iter()).for_each(|line| eprintln!("nexus-mcp policy check: {line}"));
                    return std::process::ExitCode::from(2);
                }
                eprintln!("nexus-mcp policy check: {} policies hold", policies.count());
                for (provider, patterns) in crate::readings::FOLDED {
                    let named = policies
                        .providers()
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(provider));
                    if named {
                        eprintln!(
                            "nexus-mcp policy check: a note: {provider} reads parts of a path in \
                             any case, and a call to it is decided on its path as it serves it, \
                             those parts in lower case: {}",
                            patterns.join(", ")
                        );
                    }
                }
            }
            Err(why) => {
                why.lines()
                    .for_each(|line| eprintln!("nexus-mcp policy check: {line}"));
                return std::process::ExitCode::from(2);
            }
        },
    }
    std::process::ExitCode::SUCCESS
}

/// The decision `made` on a call to `provider`, printed: what it is, the
/// request and by what; where no permit permits it, the permits that can.
fn said(made: &crate::policy::CallDecision, policies: &Policies, provider: &str) {
    let (request, by) = made.made.said();
    let said = match &made.decision {
        Decision::Permit => "permitted".to_owned(),
        Decision::Ask(approver) => format!("asked (@ask(\"{}\"))", approver.said()),
        Decision::Deny => "denied".to_owned(),
    };
    println!("{said}: {request} {by}");
    if made.made.decided.by.is_empty() && made.decision == Decision::Deny {
        let permits = policies.permits(provider);
        let permits: Vec<String> = permits.iter().map(|name| format!("{name:?}")).collect();
        if permits.is_empty() {
            println!(
                "  (what no permit permits is denied, and no permit names calls to this provider)"
            );
        } else {
            println!(
                "  (what no permit permits is denied; the permits for this provider's calls, none of which held: {})",
                permits.join(", ")
            );
        }
    }
}

/// `nexus-mcp policy explain`: the decision on stdout, as the server would
/// make it (the URL normalized first, every method and every way its
/// content may be read decided).
fn explain(
    call: &Explained,
    file: Option<&Path>,
    (provider, account): (Option<&String>, Option<&String>),
    graphql: &[(String, String)],
) -> std::process::ExitCode {
    let read = file.ok_or_else(|| "--policy FILE names the policies to decide with".to_owned());
    let read = read.and_then(|file| {
        provider
            .map(|_| file)
            .ok_or_else(|| "--provider NAME names the provider".to_owned())
    });
    let policies = match read.and_then(Policies::read) {
        Ok(policies) => policies,
        Err(why) => {
            eprintln!("nexus-mcp policy explain: {why}");
            return std::process::ExitCode::from(2);
        }
    };
    let (groups, tags) = (call.groups.clone(), call.tags.clone());
    let attributes = Attributes {
        groups,
        tags,
        groups_left_out: None,
    };
    let agent = call.agent();
    let person = call.person.as_deref().unwrap_or(&call.agent_id);
    let who = Who {
        person,
        itself: call.itself,
        attributes: &attributes,
        client: &call.client,
        agent: agent.as_ref().map(|agent| (call.agent_id.as_str(), agent)),
    };
    let body = call.body.as_deref().map(str::as_bytes);
    let method = call.method.to_uppercase();
    let methods = match policies.reads_methods() {
        true => crate::readings::methods(&method, &call.headers, &call.url, body),
        false => Ok(vec![method]),
    };
    let sending = Sending {
        url: &call.url,
        headers: &call.headers,
        body,
        graphql,
    };
    let made = methods.and_then(|methods| {
        let named = (
            provider.map_or("", String::as_str),
            &methods[..],
            account.map_or("", String::as_str),
        );
        policies.decide_request(&who, named, &sending)
    });
    let made = match made {
        Ok(made) => made,
        Err(why) => {
            println!("denied: {why}");
            return std::process::ExitCode::from(1);
        }
    };
    said(&made, &policies, provider.map_or("", String::as_str));
    std::process::ExitCode::from(u8::from(made.decision != Decision::Permit))
}

/// Each field name `policies` compare with `context.graphql.fields` that
/// no root of its provider's schema (`schemas`, PROVIDER=FILE) has, where
/// it is in `file` and the nearest name the schema has; a policy scoped to
/// no provider names a field of any schema given.
///
/// # Errors
///
/// A schema that does not read or validate, each error placed.
fn unknown_fields(
    file: &Path,
    policies: &Policies,
    schemas: &[(String, String)],
) -> Result<Vec<String>, String> {
    if schemas.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut read = Vec::new();
    for (provider, schema) in schemas {
        let sdl = std::fs::read_to_string(schema).map_err(|e| format!("{schema}: {e}"))?;
        let roots = crate::graphql::root_fields(&sdl, schema)?;
        if let Some(first) = roots.invalid.first() {
            eprintln!(
                "nexus-mcp policy check: a note: {provider}'s schema breaks {} of GraphQL's rules \
                 (its fields are read as written), the first: {first}",
                roots.invalid.len()
            );
        }
        read.push((provider, schema, roots.fields));
    }
    let mut unknown = Vec::new();
    for (scoped, field) in policies.fields() {
        let held: Vec<_> = (read.iter())
            .filter(|(provider, ..)| scoped.is_empty() || provider.eq_ignore_ascii_case(scoped))
            .collect();
        let names = (held.iter()).flat_map(|(_, _, roots)| {
            (roots.iter()).flat_map(|(kind, names)| names.iter().map(move |name| (*kind, name)))
        });
        if held.is_empty() || names.clone().any(|(_, name)| name == field) {
            continue;
        }
        let nearest = names.min_by_key(|(_, name)| strsim::levenshtein(field, name));
        let nearest = nearest.map_or_else(String::new, |(kind, name)| {
            format!(": the nearest it has is {name:?} ({kind})")
        });
        let schemas: Vec<String> = (held.iter())
            .map(|(provider, schema, _)| format!("{provider}'s ({schema})"))
            .collect();
        let (line, column) = crate::literals::at(&text, field).unwrap_or((0, 0));
        unknown.push(format!(
            "--policy {}:{line}:{column}: context.graphql.fields is compared with {field:?}, \
             which no root (query, mutation, subscription) of {} schema has{nearest}",
            file.display(),
            schemas.join(" or ")
        ));
    }
    Ok(unknown)
}

/// `--header NAME:VALUE`, read.
fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once(':').ok_or("NAME:VALUE")?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

/// `--tag NAME=VALUE`, read.
fn tag(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("NAME=VALUE")?;
    Ok((name.to_owned(), value.to_owned()))
}

//! Who may do what (`--policy FILE`): Cedar policies
//! over people, their groups and the requests their credentials go with,
//! read with the `cedar-policy` crate and validated against [`SCHEMA`]
//! when read. With policies, what none permits is denied and a `forbid`
//! wins. A call is decided before its token is resolved or anything is
//! sent, on the request as it will be sent ([`normalized`]).
//!
//! The names a policy is written against are a public interface, kept
//! stable (the guide's "Policies"): the principal `Person::"<person>"` (the
//! value of `--subject-claim`; over stdio `Person::"stdio"`), a member of
//! `Group::"<value>"` for each value of each `--group-claim`; the action
//! `Action::"call"` (its context: `method` upper case, `host` lower case,
//! `path` without the query, `account` the label or `""`), and
//! `Action::"connect"` and `Action::"list"` (`list_providers` and the
//! providers `tools/list` names); the resource
//! `Provider::"<name>"` as the Gateway names it. A call's content is read
//! where a policy names it ([`crate::contents`]): `context.query` and
//! `context.body` (entities whose tags are the query's parameters and the
//! JSON body's values at their dotted paths, as text), `context.bodyNumbers`
//! (its integers) and `context.graphql` (a GraphQL call's operation). A
//! policy is named by its `@id("…")` annotation, or by its place in the
//! file (`#1`, `#2`…). Its rooms: [`ask`], who may approve a call a
//! `forbid` with `@ask` denies; [`call`], a call decided over every way it
//! may be read; [`mistakes`], a file's mistakes said with their fixes.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, ResourceConstraint, RestrictedExpression, Schema, ValidationMode,
    Validator,
};
use miette::Diagnostic;
use nexus_sdk::one_line;

use crate::contents::{Content, Reads, Sent};
use crate::readings::normalized;

pub(crate) use self::ask::Approver;
pub(crate) use self::call::{CallDecision, Decision};

// Where the crate and the bench that includes this file both find them.
#[path = "policy/ask.rs"]
mod ask;
#[path = "policy/call.rs"]
mod call;
#[path = "policy/mistakes.rs"]
mod mistakes;

/// The schema every policy file is validated against (`nexus-mcp policy
/// schema` prints it).
pub(crate) const SCHEMA: &str = r#"// nexus-mcp's policy schema: the names a policy is written against, and
// what each is read from. A call is decided as every way it may be read:
// every reading must be permitted.
//   method       every method it may be read as (an override header's too),
//                upper case
//   host         lower case, no trailing dot, no port
//   path         from `/`, without the query, dot segments resolved (at
//                GitHub, its owner, repository and user names in lower case)
//   query        each parameter by name, as text; one given twice as each
//                value and as their list joined by `,`
//   body         the body's values by dotted path (a.b, items.0.price), as
//                text: a JSON body's (whatever its type says, where it
//                starts like JSON), or a form body's (metadata[key] at
//                metadata.key); none for another body
//   bodyNumbers  the same values' integers, read from their digits (a
//                fraction as each integer either side)
//   graphql      at a GraphQL endpoint only (`context has graphql`)
entity Group;
entity Person in [Group] tags String;
// An agent acting as itself (client credentials): `Agent::"…"`, its
// client's mark (12 hex digits, as oauth_client= in a line). In no group,
// with no tag: a policy on people's groups never reaches it.
entity Agent in [Group] tags String;
entity Provider;
entity Query tags String;
entity Body tags String;
entity BodyNumbers tags Long;
// A GraphQL call's operation: query, mutation or subscription; its name
// ("" for none); its top-level fields, fragments expanded, never aliases.
type GraphQL = { operation: String, name: String, fields: Set<String> };
// The agent the call's token was issued to (`context has agent`: behind
// --oauth-proxy): its client's mark (12 hex digits, as oauth_client= in a
// line), its registered name, the scopes its token holds, and how it was
// registered: administrator, dynamic, document or id-jag; the agents it acts
// through, where its token was exchanged (RFC 8693): their marks.
type AgentContext = {
  id: String, name: String, scopes: Set<String>, registered: String, through: Set<String>
};
action "call" appliesTo {
  principal: [Person, Agent],
  resource: Provider,
  context: {
    method: String, host: String, path: String, account: String, client: String,
    query: Query, body: Body, bodyNumbers: BodyNumbers, graphql?: GraphQL, agent?: AgentContext
  }
};
action "connect" appliesTo {
  principal: [Person, Agent], resource: Provider, context: { client: String, agent?: AgentContext }
};
action "list" appliesTo {
  principal: [Person, Agent], resource: Provider, context: { client: String, agent?: AgentContext }
};
"#;

/// A policy file, read and validated.
pub(crate) struct Policies {
    /// For each provider a policy's scope names (`resource ==
    /// Provider::"…"`, or `in` it: a provider is in no other entity), the
    /// policies that can apply to it: those, and those that name none.
    by_provider: HashMap<String, PolicySet>,
    /// The policies whose scope names no provider: all that can apply to
    /// a provider no scope names.
    any: PolicySet,
    /// Made once: each decision asks it.
    authorizer: Authorizer,
    /// The schema's entity types, parsed once: Person, Group, Provider,
    /// Action, Query, Body, BodyNumbers, Agent.
    types: [EntityTypeName; 8],
    /// Each policy's name: its `@id`, or its place in the file.
    names: HashMap<PolicyId, String>,
    /// Each provider a policy names (`Provider::"…"`), for `serve --check`
    /// to find in the Gateway's listing.
    providers: Vec<String>,
    /// Each field name a policy compares with `context.graphql.fields`,
    /// with the provider it is scoped to (`""` for any), for `policy
    /// check` to find in a provider's schema.
    fields: Vec<(String, String)>,
    /// Each group a policy names (`Group::"…"`).
    groups: Vec<String>,
    /// Whether a policy reads `context.path`: then a path that servers read
    /// two ways ([`crate::readings::read_two_ways`]) is refused.
    names_paths: bool,
    /// Whether a policy reads `context.method`: then a call is read for
    /// every method a server may take it as ([`crate::readings::methods`]);
    /// otherwise each reads the same and none is read.
    names_methods: bool,
    /// What a policy reads of a call's content: nothing else is read; and
    /// what the policies that can apply to each provider's calls read
    /// (those naming it, and those naming none: [`Policies::by_provider`]),
    /// so that a body no policy of its provider reads is never refused.
    reads: Reads,
    reads_by_provider: (HashMap<String, Reads>, Reads),
    /// The `forbid`s that ask (`@ask`), each with its approver; and the
    /// policies but those, indexed as [`Policies::by_provider`] is, which
    /// say whether a `permit` permits a call they deny.
    asks: HashMap<PolicyId, Approver>,
    unasked: Indexed,
    /// The decisions made, by what each was asked: Cedar decides the same
    /// question the same way each time, so a request made again (another
    /// page of the same path, a poll) is decided by a lookup. Held with
    /// these policies (a file read again starts with none) and bounded:
    /// a question longer than [`QUESTION_MOST`] is not remembered, and the
    /// decisions are forgotten when [`REMEMBERED`] are held (a few MiB).
    made: Mutex<HashMap<Question, Decided>>,
}

/// The most decisions [`Policies`] remembers.
const REMEMBERED: usize = 4096;

/// The longest question whose decision is remembered, in bytes of text.
const QUESTION_MOST: usize = 512;

/// What a decision was asked: the action, the person, the client, the
/// provider, the method, the host, the path and the account; then what it
/// reads of the person, and of the call's content.
type Question = ([String; 10], Attributes, Content);

/// The policies in force, and the file SIGHUP reads them from again: each
/// decision takes the policies whole, the old or the new.
pub(crate) struct Held {
    file: std::path::PathBuf,
    now: RwLock<Arc<Policies>>,
}

impl Held {
    /// The policies of the file at `file`, held (see [`Policies::read`]).
    pub(crate) fn read(file: &Path) -> Result<Held, String> {
        let now = RwLock::new(Arc::new(Policies::read(file)?));
        Ok(Held {
            file: file.to_owned(),
            now,
        })
    }

    /// The policies in force.
    pub(crate) fn now(&self) -> Arc<Policies> {
        let now = self.now.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&now)
    }

    /// The file read again: how many policies it holds now, or why the
    /// policies held stay (the file, line and column, the validator's words).
    pub(crate) fn reread(&self) -> Result<usize, String> {
        let read = Policies::read(&self.file)?;
        let count = read.count();
        let mut now = self.now.write().unwrap_or_else(PoisonError::into_inner);
        *now = Arc::new(read);
        Ok(count)
    }
}

/// What a policy reads of a person besides who they are: the groups they
/// are in (`--group-claim`), and each claim `--policy-claim` names whose
/// value is a string, a number or a boolean, as text: a tag of theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct Attributes {
    pub(crate) groups: Vec<String>,
    #[serde(default)]
    pub(crate) tags: Vec<(String, String)>,
    /// The group claim that the issuer left out as too long to list
    /// (Entra's overage: `_claim_names` names it, or `hasgroups`): the
    /// groups are not all there, so no decision is made on them.
    #[serde(default)]
    pub(crate) groups_left_out: Option<String>,
}

impl Attributes {
    /// These attributes as a principal holds them: boxed, or none when
    /// there are none (most people, where `--policy` reads no claim).
    pub(crate) fn held(self) -> Option<Box<Attributes>> {
        let none = self.groups.is_empty() && self.tags.is_empty() && self.groups_left_out.is_none();
        (!none).then(|| Box::new(self))
    }
}

/// Who asks, as a policy reads them: the person (`Person::"…"`), what it
/// reads of them, the name their MCP client gives (`context.client`), and
/// the agent their token was issued to, with its client's mark
/// (`context.agent`).
pub(crate) struct Who<'a> {
    /// The person's id, or, where `itself`, the agent's (`Agent::"…"`).
    pub(crate) person: &'a str,
    pub(crate) itself: bool,
    pub(crate) attributes: &'a Attributes,
    pub(crate) client: &'a str,
    pub(crate) agent: Option<(&'a str, &'a crate::agents::Agent)>,
}

impl Who<'_> {
    /// The agent as a decision remembered is keyed by ("" for none).
    fn agent_key(&self) -> String {
        let Some((id, agent)) = self.agent else {
            return String::new();
        };
        let (scopes, through) = (agent.scopes.join(" "), agent.through.join(" "));
        format!(
            "{id}\0{}\0{}\0{scopes}\0{through}",
            agent.name, agent.registered
        )
    }
}

/// A request as a policy reads it.
pub(crate) struct Asked<'a> {
    pub(crate) who: &'a Who<'a>,
    pub(crate) provider: &'a str,
    pub(crate) method: &'a str,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) account: &'a str,
    /// One way its content may be read (empty for `connect` and `list`).
    pub(crate) content: &'a Content,
}

/// A request as it will be sent, for a decision: its URL as asked, its
/// headers and body, and the GraphQL endpoints `--graphql-endpoint` adds.
pub(crate) struct Sending<'a> {
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) graphql: &'a [(String, String)],
}

/// A decision ([`Decision::Ask`] when every `forbid` that denies it asks,
/// `@ask`, and a `permit` permits it), and the policies that made it (none:
/// no policy permits).
#[derive(Debug, PartialEq, Clone)]
pub(crate) struct Decided {
    pub(crate) decision: Decision,
    pub(crate) by: Vec<String>,
}

impl Decided {
    /// Whether it permits.
    pub(crate) fn permits(&self) -> bool {
        self.decision == Decision::Permit
    }
}

impl Policies {
    /// Whether a policy reads `context.method`.
    pub(crate) fn reads_methods(&self) -> bool {
        self.names_methods
    }

    /// What a policy reads of a call's content.
    pub(crate) fn reads(&self) -> &Reads {
        &self.reads
    }

    /// What the policies that can apply to `provider`'s calls read of
    /// their content.
    pub(crate) fn reads_for(&self, provider: &str) -> &Reads {
        let (named, any) = &self.reads_by_provider;
        named.get(provider).unwrap_or(any)
    }

    /// Each provider a policy names, as written.
    pub(crate) fn providers(&self) -> &[String] {
        &self.providers
    }

    /// Each field name a policy compares with `context.graphql.fields`,
    /// and the provider its policy is scoped to (`""` for any).
    pub(crate) fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Each group a policy names, as written.
    pub(crate) fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The names of the permits that can apply to `provider`'s calls
    /// (`policy explain` names them when none permitted one).
    pub(crate) fn permits(&self, provider: &str) -> Vec<String> {
        let set = self.by_provider.get(provider).unwrap_or(&self.any);
        let calls = |action: &EntityUid| action.id().unescaped() == "call";
        let applies = |policy: &&cedar_policy::Policy| match policy.action_constraint() {
            cedar_policy::ActionConstraint::Any => true,
            cedar_policy::ActionConstraint::Eq(action) => calls(&action),
            cedar_policy::ActionConstraint::In(actions) => actions.iter().any(calls),
        };
        let permits = set
            .policies()
            .filter(|p| p.effect() == cedar_policy::Effect::Permit);
        let permits = permits.filter(applies);
        permits
            .filter_map(|p| self.names.get(p.id()).cloned())
            .collect()
    }

    /// How many policies the file holds.
    pub(crate) fn count(&self) -> usize {
        self.names.len()
    }

    /// The policies of the file at `path`, or why not: its name, and each
    /// error's line and column with the parser's or validator's words.
    pub(crate) fn read(path: &Path) -> Result<Policies, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("--policy {shown}: {e}"))?;
        let each = |why: String| {
            let lines = why.lines().map(|at| format!("--policy {shown}:{at}"));
            lines.collect::<Vec<String>>().join("\n")
        };
        Policies::parse(&text).map_err(each)
    }

    /// `text` parsed and validated against [`SCHEMA`]: where each error is
    /// (`LINE:COLUMN: why`, one a line) when it is not.
    pub(crate) fn parse(text: &str) -> Result<Policies, String> {
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA).map_err(|e| e.to_string())?;
        let set = PolicySet::from_str(text).map_err(|errors| {
            let each = errors.iter().map(|e| placed(text, e, &e.to_string()));
            each.collect::<Vec<String>>().join("\n")
        })?;
        let validated = Validator::new(schema).validate(&set, ValidationMode::Strict);
        let named = |id: &PolicyId| set.policy(id).map_or_else(|| id.to_string(), name);
        let mut errors: Vec<String> = Vec::new();
        for said in (validated.validation_errors()).map(|e| mistakes::said(text, e, &named)) {
            if !errors.contains(&said) {
                errors.push(said);
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let json: Vec<serde_json::Value> =
            set.policies().filter_map(|p| p.to_json().ok()).collect();
        let never = crate::literals::never_matching(text, &json);
        let providers = crate::literals::providers_named(&json);
        let fields = crate::literals::fields_named(&json);
        let groups = crate::literals::entities_named(&json, "Group");
        if !never.is_empty() {
            return Err(never.join("\n"));
        }
        let names = set.policies().map(|p| (p.id().clone(), name(p))).collect();
        let names_paths = set.policies().any(|p| reads(p, "path"));
        let names_methods = set.policies().any(|p| reads(p, "method"));
        let reads = crate::literals::contents_read(&json);
        let (asks, unasked) = ask::asking(text, &set)?;
        let (by_provider, any) = indexed(&set);
        let read = |set: &PolicySet| {
            let json: Vec<serde_json::Value> =
                set.policies().filter_map(|p| p.to_json().ok()).collect();
            crate::literals::contents_read(&json)
        };
        let named = by_provider
            .iter()
            .map(|(name, set)| (name.clone(), read(set)));
        let reads_by_provider = (named.collect(), read(&any));
        let kinds = [
            "Person",
            "Group",
            "Provider",
            "Action",
            "Query",
            "Body",
            "BodyNumbers",
            "Agent",
        ];
        let types: Result<Vec<EntityTypeName>, _> =
            kinds.into_iter().map(EntityTypeName::from_str).collect();
        let types = types.ok().and_then(|types| types.try_into().ok());
        let Some(types) = types else {
            return Err(" the schema's type names do not parse".to_owned());
        };
        Ok(Policies {
            by_provider,
            any,
            authorizer: Authorizer::new(),
            types,
            names,
            providers,
            fields,
            groups,
            names_paths,
            names_methods,
            reads,
            reads_by_provider,
            asks,
            unasked,
            made: Mutex::default(),
        })
    }

    /// Whether `action` (`call`, `connect`, `list`) as `asked` is permitted.
    pub(crate) fn decide(&self, action: &str, asked: &Asked) -> Decided {
        let agent = asked.who.agent_key();
        let principal_type = if asked.who.itself { "Agent" } else { "Person" };
        let fields = [
            action,
            principal_type,
            asked.who.person,
            asked.who.client,
            asked.provider,
            asked.method,
            asked.host,
            asked.path,
            asked.account,
            &agent,
        ];
        let attributes = asked.who.attributes;
        let groups = attributes.groups.iter().map(String::len);
        let tags = attributes
            .tags
            .iter()
            .map(|(name, value)| name.len() + value.len());
        let size = fields.iter().map(|f| f.len()).chain(groups).chain(tags);
        if size.sum::<usize>() + asked.content.size() > QUESTION_MOST {
            return self.evaluated(action, asked);
        }
        let content = asked.content.clone();
        let question: Question = (fields.map(str::to_owned), attributes.clone(), content);
        let made = || self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(decided) = made().get(&question) {
            return decided.clone();
        }
        let decided = self.evaluated(action, asked);
        let mut made = made();
        if made.len() >= REMEMBERED {
            made.clear();
        }
        made.insert(question, decided.clone());
        decided
    }

    /// [`decide`](Self::decide)'s answer, asked of Cedar.
    fn evaluated(&self, action: &str, asked: &Asked) -> Decided {
        let Ok((request, entities)) = self.request(action, asked, None) else {
            return Decided {
                decision: Decision::Deny,
                by: vec!["a request the schema does not allow".into()],
            };
        };
        // Only the policies that can apply to this provider are read: the
        // decision is the same, its cost the policies that concern it.
        let set = self.by_provider.get(asked.provider).unwrap_or(&self.any);
        let answer = self.authorizer.is_authorized(&request, set, &entities);
        let reasons: Vec<&PolicyId> = answer.diagnostics().reason().collect();
        let asking = || self.asked(&reasons, (&request, &entities), asked.provider);
        let decision = match answer.decision() {
            cedar_policy::Decision::Allow => Decision::Permit,
            cedar_policy::Decision::Deny => asking().map_or(Decision::Deny, Decision::Ask),
        };
        // A forbid that asks denies nothing alone: where no approval can
        // permit the call (no permit holds), what denies it is that no
        // permit does, and an asking forbid is not named as the denier.
        let denier = |id: &&&PolicyId| decision != Decision::Deny || !self.asks.contains_key(**id);
        let by = reasons.iter().filter(denier).map(|id| {
            self.names
                .get(*id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        });
        let by = by.collect();
        Decided { decision, by }
    }

    /// The request Cedar reads, and the entities it reads with it: the
    /// person, in their groups and with their tags (none when they have
    /// neither: no other entity has attributes, a provider is in nothing
    /// and the schema groups no actions, so a group, a provider or an
    /// action needs no entity of its own).
    /// Checked against `schema` when given: the tests check that what is
    /// made here is what the schema says, so a decision need not.
    fn request(
        &self,
        action: &str,
        asked: &Asked,
        schema: Option<&Schema>,
    ) -> Result<(Request, Entities), String> {
        // Each name taken as it is: no escaping stands between it and Cedar;
        // the types parsed once, when the file was.
        let [
            person_type,
            group_type,
            provider_type,
            action_type,
            ..,
            agent_type,
        ] = &self.types;
        let uid = |kind: &EntityTypeName, id: &str| {
            EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
        };
        let Who {
            person,
            itself,
            attributes,
            client,
            agent,
        } = asked.who;
        let principal_type = if *itself { agent_type } else { person_type };
        let (person, act) = (uid(principal_type, person), uid(action_type, action));
        let provider = uid(provider_type, asked.provider);
        let string = |value: &str| RestrictedExpression::new_string(value.to_owned());
        let mut entities = Vec::new();
        if !attributes.groups.is_empty() || !attributes.tags.is_empty() {
            let groups = attributes.groups.iter().map(|g| uid(group_type, g));
            let tags = (attributes.tags.iter()).map(|(name, value)| (name.clone(), string(value)));
            entities.push(Entity::new_with_tags(person.clone(), [], groups, tags));
        }
        let mut context = vec![("client".to_owned(), string(client))];
        if let Some((id, agent)) = agent {
            let scopes = agent.scopes.iter().map(|scope| string(scope));
            let record = RestrictedExpression::new_record([
                ("id".to_owned(), string(id)),
                ("name".to_owned(), string(&agent.name)),
                ("scopes".to_owned(), RestrictedExpression::new_set(scopes)),
                ("registered".to_owned(), string(&agent.registered)),
                (
                    "through".to_owned(),
                    RestrictedExpression::new_set(agent.through.iter().map(|m| string(m))),
                ),
            ]);
            context.extend(record.ok().map(|record| ("agent".to_owned(), record)));
        }
        if action == "call" {
            context.extend([
                ("method".to_owned(), string(asked.method)),
                ("host".to_owned(), string(asked.host)),
                ("path".to_owned(), string(asked.path)),
                ("account".to_owned(), string(asked.account)),
            ]);
            context.extend(self.content(asked.content, &mut entities));
        }
        let entities: Result<Vec<Entity>, _> = entities.into_iter().collect();
        let entities = entities.map_err(|e| e.to_string())?;
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        let context = Context::from_pairs(context).map_err(|e| e.to_string())?;
        let request = Request::new(person, act, provider, context, schema);
        Ok((request.map_err(|e| e.to_string())?, entities))
    }

    /// A call's `content` as its context holds it: `query`, `body` and
    /// `bodyNumbers` entities (added to `entities`) whose tags are its
    /// values, and `graphql` when it is a GraphQL call.
    fn content(
        &self,
        content: &Content,
        entities: &mut Vec<Result<Entity, cedar_policy::EntityAttrEvaluationError>>,
    ) -> Vec<(String, RestrictedExpression)> {
        let [.., query_type, body_type, numbers_type, _] = &self.types;
        let string = |value: &String| RestrictedExpression::new_string(value.clone());
        let texts = |pairs: &[(String, String)]| {
            let tags = pairs.iter().map(|(k, v)| (k.clone(), string(v)));
            tags.collect::<Vec<_>>()
        };
        let numbers = content.numbers.iter();
        let numbers = numbers.map(|(k, n)| (k.clone(), RestrictedExpression::new_long(*n)));
        let each = [
            ("query", query_type, texts(&content.query)),
            ("body", body_type, texts(&content.body)),
            ("bodyNumbers", numbers_type, numbers.collect()),
        ];
        let mut context = Vec::new();
        for (name, kind, tags) in each {
            let uid = EntityUid::from_type_name_and_id(kind.clone(), EntityId::new("call"));
            entities.push(Entity::new_with_tags(uid.clone(), [], [], tags));
            context.push((name.to_owned(), RestrictedExpression::new_entity_uid(uid)));
        }
        if let Some(operation) = &content.graphql {
            let fields = operation.fields.iter().map(string);
            let record = RestrictedExpression::new_record([
                ("operation".to_owned(), string(&operation.kind.to_owned())),
                ("name".to_owned(), string(&operation.name)),
                ("fields".to_owned(), RestrictedExpression::new_set(fields)),
            ]);
            context.extend(record.ok().map(|r| ("graphql".to_owned(), r)));
        }
        context
    }
}

/// Whether `policy` reads the request's attribute `attr` (`context.path`,
/// `context.method`, in any spelling Cedar takes: its JSON form names the
/// attribute either way).
fn reads(policy: &cedar_policy::Policy, attr: &str) -> bool {
    let json = policy.to_json().map(|json| json.to_string());
    json.is_ok_and(|json| json.contains(&format!(r#""attr":"{attr}""#)))
}

/// Policies by the provider their scopes name, and those naming none.
pub(super) type Indexed = (HashMap<String, PolicySet>, PolicySet);

/// `set` split by the provider each policy's scope names (see
/// [`Policies::by_provider`]), and the policies that name none.
pub(super) fn indexed(set: &PolicySet) -> Indexed {
    let provider = |policy: &cedar_policy::Policy| match policy.resource_constraint() {
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid)
            if uid.type_name().to_string() == "Provider" =>
        {
            Some(uid.id().unescaped().to_owned())
        }
        _ => None,
    };
    let (mut any, mut named) = (PolicySet::new(), HashMap::<String, Vec<_>>::new());
    for policy in set.policies() {
        match provider(policy) {
            Some(name) => named.entry(name).or_default().push(policy.clone()),
            // Ids are the file's own, each once: adding cannot collide.
            None => drop(any.add(policy.clone())),
        }
    }
    let by_provider = named.into_iter().map(|(name, policies)| {
        let mut set = any.clone();
        policies
            .into_iter()
            .for_each(|policy| drop(set.add(policy)));
        (name, set)
    });
    (by_provider.collect(), any)
}

/// A policy's name: its `@id("…")`, or its place in the file (`#1` for
/// the first: the parser names them `policy0`, `policy1`…).
fn name(policy: &cedar_policy::Policy) -> String {
    if let Some(id) = policy.annotation("id") {
        return id.to_owned();
    }
    let id = policy.id().to_string();
    let place = id
        .strip_prefix("policy")
        .and_then(|n| n.parse::<usize>().ok());
    place.map_or(id, |n| format!("#{}", n + 1))
}

/// `why` said where `error` points in `text`: ` LINE:COLUMN: why`.
fn placed(text: &str, error: &dyn Diagnostic, why: &str) -> String {
    let at = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let Some(at) = at.filter(|at| *at <= text.len()) else {
        return format!(" {why}");
    };
    let (line, column) = crate::literals::placed_at(text, at);
    format!("{line}:{column}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call's content, none read.
    static NOTHING: Content = Content {
        query: Vec::new(),
        body: Vec::new(),
        numbers: Vec::new(),
        graphql: None,
    };

    const TEAM: &str = r#"
@id("everyone reads")
permit (principal, action == Action::"call", resource) when { context.method == "GET" };
@id("platform writes")
permit (principal in Group::"platform", action == Action::"call", resource);
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
forbid (principal, action == Action::"call", resource == Provider::"github")
  unless { context.path like "/repos/acme/*" };
"#;

    /// `person` through the client `t`, with `attributes`.
    fn who<'a>(person: &'a str, attributes: &'a Attributes) -> Who<'a> {
        Who {
            person,
            itself: false,
            attributes,
            client: "t",
            agent: None,
        }
    }

    /// A person in `groups`, with no tag.
    fn in_groups(groups: &[&str]) -> Attributes {
        Attributes {
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..Attributes::default()
        }
    }

    /// `who`'s `method` of github's `path`.
    fn call<'a>(who: &'a Who<'a>, method: &'a str, path: &'a str) -> Asked<'a> {
        Asked {
            who,
            provider: "github",
            method,
            host: "api.github.com",
            path,
            account: "",
            content: &NOTHING,
        }
    }

    /// An agent acting as itself is `Agent::"…"`: a policy on agents
    /// reaches it and no person of the same id, and neither's decision is
    /// remembered for the other.
    #[test]
    fn an_agent_as_itself_is_decided_apart_from_a_person_of_its_id() {
        let policies = Policies::parse(
            r#"permit (principal, action, resource);
@id("agents read")
forbid (principal is Agent, action == Action::"call", resource) when { context.method != "GET" };"#,
        )
        .unwrap();
        let none = in_groups(&[]);
        let person = who("6f99182f101e", &none);
        let agent = Who {
            itself: true,
            ..who("6f99182f101e", &none)
        };
        let permitted = |who: &Who| {
            let decided = policies.decide("call", &call(who, "POST", "/repos/acme/x"));
            matches!(decided.decision, Decision::Permit)
        };
        for _ in 0..2 {
            assert!(permitted(&person), "a person of the agent's id");
            assert!(!permitted(&agent), "the agent");
        }
    }

    /// A decision asked again is remembered, and only for the same
    /// question: each thing a policy reads, changed alone after the first
    /// decision, is decided anew; the decisions remembered stay bounded.
    #[test]
    fn a_decision_is_remembered_for_exactly_its_question_within_a_bound() {
        let policies = Policies::parse(
            r#"permit (principal == Person::"alice", action == Action::"call", resource == Provider::"github")
  when { principal in Group::"g" && principal.hasTag("dept") && principal.getTag("dept") == "x"
    && context.client == "t" && context.method == "GET" && context.host == "a"
    && context.path == "/p" && context.account == "" };"#,
        )
        .unwrap();
        let tagged = |groups: &[&str], dept: &str| Attributes {
            tags: vec![("dept".to_owned(), dept.to_owned())],
            ..in_groups(groups)
        };
        let theirs = tagged(&["g"], "x");
        let asked = |who: &Who, provider: &str, rest: [&str; 4]| {
            let [method, host, path, account] = rest;
            let asked = Asked {
                who,
                provider,
                method,
                host,
                path,
                account,
                content: &NOTHING,
            };
            policies.decide("call", &asked).permits()
        };
        let alice = who("alice", &theirs);
        let same = ["GET", "a", "/p", ""];
        assert!(asked(&alice, "github", same) && asked(&alice, "github", same));
        let again = call(&alice, "GET", "/p");
        assert!(!policies.decide("list", &again).permits(), "the action");
        let (none, other_dept, untagged) =
            (tagged(&[], "x"), tagged(&["g"], "y"), in_groups(&["g"]));
        let others = [
            who("bob", &theirs),
            who("alice", &none),
            who("alice", &other_dept),
            who("alice", &untagged),
            Who {
                client: "u",
                ..who("alice", &theirs)
            },
        ];
        for other in &others {
            assert!(!asked(other, "github", same), "{:?}", other.attributes);
        }
        assert!(!asked(&alice, "gitlab", same));
        for changed in [
            ["POST", "a", "/p", ""],
            ["GET", "b", "/p", ""],
            ["GET", "a", "/q", ""],
            ["GET", "a", "/p", "work"],
        ] {
            assert!(!asked(&alice, "github", changed), "{changed:?}");
        }
        for n in 0..REMEMBERED + 10 {
            assert!(!asked(&alice, "github", ["GET", "a", &format!("/{n}"), ""]));
            assert!(policies.made.lock().unwrap().len() <= REMEMBERED);
        }
        assert!(asked(&alice, "github", same), "decided anew once forgotten");
        let held = policies.made.lock().unwrap().len();
        let long = format!("/{}", "x".repeat(QUESTION_MOST));
        let long = ["GET", "a", &long, ""];
        assert!(!asked(&alice, "github", long) && !asked(&alice, "github", long));
        assert_eq!(
            policies.made.lock().unwrap().len(),
            held,
            "a long question is not kept"
        );
    }

    /// A decision makes its request unchecked: what it makes is what the
    /// schema says, for each action, with groups and tags and without.
    #[test]
    fn the_request_a_decision_makes_is_what_the_schema_says() {
        let policies = Policies::parse(TEAM).unwrap();
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
        let tagged = Attributes {
            tags: vec![("dept".into(), "x".into())],
            ..in_groups(&["platform"])
        };
        for attributes in [tagged, in_groups(&[])] {
            for action in ["call", "connect", "list"] {
                let alice = who("alice", &attributes);
                let asked = call(&alice, "GET", "/repos/acme/x");
                let made = policies.request(action, &asked, Some(&schema));
                assert!(made.is_ok(), "{action}: {:?}", made.err());
            }
        }
        let none = in_groups(&[]);
        let agent = Who {
            itself: true,
            ..who("6f99182f101e", &none)
        };
        for action in ["call", "connect", "list"] {
            let asked = call(&agent, "GET", "/repos/acme/x");
            let made = policies.request(action, &asked, Some(&schema));
            assert!(
                made.is_ok(),
                "an agent as itself, {action}: {:?}",
                made.err()
            );
        }
        let alice = who("alice", &none);
        let asked = call(&alice, "GET", "/");
        assert!(policies.request("delete", &asked, Some(&schema)).is_err());
    }

    #[test]
    fn a_forbid_wins_and_what_no_policy_permits_is_denied_naming_the_policies() {
        let policies = Policies::parse(TEAM).unwrap();
        let (none, platform) = (in_groups(&[]), in_groups(&["platform"]));
        let (alice, admin) = (who("alice", &none), who("alice", &platform));
        let read = policies.decide("call", &call(&alice, "GET", "/repos/acme/x"));
        assert_eq!(
            read,
            Decided {
                decision: Decision::Permit,
                by: vec!["everyone reads".into()],
            }
        );
        let post = |who| policies.decide("call", &call(who, "POST", "/repos/acme/x"));
        assert!(!post(&alice).permits() && post(&admin).permits());
        let deleted = policies.decide("call", &call(&admin, "DELETE", "/repos/acme/x"));
        assert_eq!(
            deleted,
            Decided {
                decision: Decision::Deny,
                by: vec!["#3".into()],
            }
        );
        let elsewhere = policies.decide("call", &call(&admin, "GET", "/repos/other/x"));
        assert_eq!(elsewhere.by, vec!["#4".to_owned()]);
        assert!(
            !policies.decide("connect", &call(&alice, "", "")).permits(),
            "none permits it"
        );
        // A policy whose scope names another provider is not read for this one.
        let stripe = Asked {
            provider: "stripe",
            ..call(&alice, "GET", "/repos/other/x")
        };
        let read = policies.decide("call", &stripe);
        assert_eq!(
            read,
            Decided {
                decision: Decision::Permit,
                by: vec!["everyone reads".into()],
            }
        );
    }

    #[test]
    fn a_name_is_taken_as_it_is_quotes_and_backslashes_included() {
        let policies =
            Policies::parse("permit (principal == Person::\"a\\\"b\\\\c\", action, resource);")
                .unwrap();
        let none = in_groups(&[]);
        let listed = |person: &str| {
            let asking = who(person, &none);
            policies
                .decide("list", &call(&asking, "GET", "/"))
                .permits()
        };
        assert!(listed("a\"b\\c") && !listed("a\"b"));
    }

    #[test]
    fn a_person_is_read_from_claims_groups_as_strings_lists_or_dotted_paths_tags_as_text() {
        let claims = serde_json::json!({"groups": ["a", 1, "b"], "role": "c",
            "realm_access": {"roles": ["d"]}, "dept": "x", "level": 3, "mfa": true,
            "ext": {"site": "y"}, "list": ["z"], "none": null});
        let claims = claims.as_object().unwrap();
        let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        let reads = crate::principal::PolicyClaims {
            groups: names(&["groups", "role", "realm_access.roles", "absent"]),
            tags: names(&["dept", "level", "mfa", "ext.site", "list", "none", "absent"]),
        };
        let read = reads.read(claims);
        assert_eq!(read.groups, ["a", "b", "c", "d"]);
        let tag = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        assert_eq!(
            read.tags,
            [
                tag("dept", "x"),
                tag("level", "3"),
                tag("mfa", "true"),
                tag("ext.site", "y")
            ]
        );
    }

    #[test]
    fn a_file_that_does_not_parse_or_validate_is_told_by_line_and_column() {
        let broken =
            Policies::parse("permit (principal, action, resource)\n  when { context.method == };");
        assert!(broken.err().unwrap().starts_with("2:"), "the line");
        let unknown = "permit (principal, action == Action::\"call\", resource)\n  when { context.colour == \"red\" };";
        let why = Policies::parse(unknown).err().unwrap();
        assert!(why.starts_with("2:") && why.contains("colour"), "{why}");
        let unknown_type = Policies::parse("permit (principal == User::\"a\", action, resource);");
        assert!(unknown_type.err().unwrap().starts_with("1:"));
        assert!(Policies::parse(SCHEMA).is_err(), "a schema is no policy");
        assert!(Policies::parse("").is_ok(), "no policy: everything denied");
    }
}

//! A GraphQL call read as its server reads it (the October 2021 spec, by
//! Apollo's spec-compliant parser): the operation a request selects (its
//! type, its name, its top-level fields with fragments expanded and
//! aliases never read), and the endpoints the providers serve GraphQL at,
//! where a `POST` that carries only `query` operations is a read. Pure
//! but for a bounded memory of the documents read lately, so that each
//! reading is tested alone. Also a provider's published schema read
//! (apollo-compiler validates it), for `policy check` to find the field
//! names a policy compares.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use apollo_parser::Parser;
use apollo_parser::cst::{self, Definition, Selection};

/// The providers' GraphQL endpoints, by provider (as the Gateway names it,
/// any case) and path (`*` one segment), wherever the provider's API is
/// served: GitHub's (and GitHub Enterprise Server's), GitLab's, Linear's,
/// Shopify's Admin and Storefront APIs, monday.com's, Atlassian's.
pub(crate) const ENDPOINTS: [(&str, &str); 8] = [
    ("github", "/graphql"),
    ("github", "/api/graphql"),
    ("gitlab", "/api/graphql"),
    ("linear", "/graphql"),
    ("shopify", "/admin/api/*/graphql.json"),
    ("shopify", "/api/*/graphql.json"),
    ("monday", "/v2"),
    ("atlassian", "/gateway/api/graphql"),
];

/// The deepest a document's selections may nest, and the most tokens it
/// may hold: a document past either is not read (GitHub's own limits are
/// far below: 500,000 nodes, and a document of 10 KiB reads in microseconds).
const RECURSION_MOST: usize = 128;
const TOKENS_MOST: usize = 200_000;

/// Why a GraphQL request cannot be read: the call is refused where a
/// policy reads its operation (the model reads it).
pub(crate) const UNPARSED: &str = "its GraphQL document does not parse";
/// A document past [`TOKENS_MOST`] tokens or [`RECURSION_MOST`] levels.
pub(crate) const PAST_LIMITS: &str = "its GraphQL document holds more than 200,000 tokens or \
                                      nests selections 128 deep: refused unread";
/// A document with several operations and none named.
pub(crate) const UNNAMED: &str =
    "its GraphQL document holds several operations and no operationName names one";
/// An `operationName` the document does not hold.
pub(crate) const NOT_HELD: &str = "its operationName names no operation of its GraphQL document";
/// Fragments that spread one another in a cycle (the spec, §5.5.2.2).
pub(crate) const CYCLE: &str =
    "its GraphQL fragments spread one another in a cycle, which the spec forbids (§5.5.2.2)";
/// A document that expands past [`EXPANDED_MOST`] selections.
pub(crate) const FAN_OUT: &str = "its GraphQL document expands to more than 50,000 selections \
                                  (its operations' fragments spread, within fragments too): \
                                  refused unread";

/// The most selections a document's operations' top levels may expand to
/// together, every operation counted and each fragment spread counted as
/// the selections it expands to (a fragment spread twice at each of 20
/// levels is 2²⁰; 5,000 operations spreading one of 1,000 fields, 5
/// million): past it, refused before any is read.
const EXPANDED_MOST: u64 = 50_000;

/// The operation a GraphQL request selects, as `context.graphql` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Operation {
    /// `query`, `mutation` or `subscription` (a document's shorthand `{…}`
    /// is a query).
    pub(crate) kind: &'static str,
    /// Its name; empty for an anonymous operation.
    pub(crate) name: String,
    /// Its top-level fields' names (never an alias), fragments expanded,
    /// sorted, each once.
    pub(crate) fields: Vec<String>,
}

/// Whether `provider`'s `path` (as normalised) is a GraphQL endpoint: one
/// of [`ENDPOINTS`] or of `added` (`--graphql-endpoint`).
pub(crate) fn is_endpoint(added: &[(String, String)], provider: &str, path: &str) -> bool {
    let named = ENDPOINTS.iter().map(|&(p, at)| (p, at));
    let added = added.iter().map(|(p, at)| (p.as_str(), at.as_str()));
    named
        .chain(added)
        .any(|(p, at)| p.eq_ignore_ascii_case(provider) && matches(at, path))
}

/// `--graphql-endpoint PROVIDER=PATH`, read: a provider's name and a path
/// from `/`.
///
/// # Errors
///
/// What is wrong with it.
pub(crate) fn endpoint(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((provider, path)) if !provider.trim().is_empty() && path.starts_with('/') => {
            Ok((provider.trim().to_owned(), path.to_owned()))
        }
        _ => Err("PROVIDER=PATH, a provider's name and a path from `/`: github=/graphql".into()),
    }
}

/// Whether `path` is `pattern`, each `*` of it one whole segment.
fn matches(pattern: &str, path: &str) -> bool {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some("*"), Some(segment)) if !segment.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// `document` parsed: its tree, or [`PAST_LIMITS`], or [`UNPARSED`] (a
/// syntax error, or definitions other than operations and fragments: not
/// an executable document).
fn parsed(document: &str) -> Result<cst::Document, &'static str> {
    let parser = Parser::new(document).recursion_limit(RECURSION_MOST);
    let tree = parser.token_limit(TOKENS_MOST).parse();
    let past = tree.token_limit().high >= TOKENS_MOST;
    if past || tree.recursion_limit().high >= RECURSION_MOST {
        return Err(PAST_LIMITS);
    }
    if tree.errors().next().is_some() {
        return Err(UNPARSED);
    }
    let document = tree.document();
    let executable = document.definitions().all(|d| {
        matches!(
            d,
            Definition::OperationDefinition(_) | Definition::FragmentDefinition(_)
        )
    });
    executable.then_some(document).ok_or(UNPARSED)
}

/// An operation's type, as the spec names it.
fn kind(operation: &cst::OperationDefinition) -> &'static str {
    match operation.operation_type() {
        Some(t) if t.mutation_token().is_some() => "mutation",
        Some(t) if t.subscription_token().is_some() => "subscription",
        _ => "query",
    }
}

/// Whether every operation `document` holds is a query (with one
/// operation at least): a request that can only read, whichever
/// operation a server runs.
///
/// # Errors
///
/// Why it does not read ([`UNPARSED`], [`CYCLE`], [`FAN_OUT`]).
pub(crate) fn only_queries(document: &str) -> Result<bool, &'static str> {
    let every = operations(document)?;
    Ok(!every.is_empty() && every.iter().all(|o| o.kind == "query"))
}

/// Whether `document` reads as operations of which one is no query (a
/// mutation, a subscription): a write, wherever it is sent.
pub(crate) fn writes(document: &str) -> bool {
    operations(document).is_ok_and(|every| every.iter().any(|o| o.kind != "query"))
}

/// The operation `document` runs for `name` (`operationName`; none or
/// empty: the document's only operation), or why none can be read.
///
/// # Errors
///
/// [`UNPARSED`], [`UNNAMED`], [`NOT_HELD`], or a fragment that is not
/// defined or spreads itself ([`UNPARSED`]).
pub(crate) fn operation(document: &str, name: Option<&str>) -> Result<Operation, &'static str> {
    let mut every = operations(document)?;
    let at = match name.filter(|n| !n.is_empty()) {
        Some(wanted) => every.iter().position(|o| o.name == wanted),
        None if every.len() == 1 => Some(0),
        None => return Err(UNNAMED),
    };
    Ok(every.swap_remove(at.ok_or(NOT_HELD)?))
}

/// The documents read lately and what each read as: a parse costs about
/// 70 µs a KiB (Apollo's parser builds a whole syntax tree), and an agent
/// sends the same document again and again (another page, other
/// variables), and a read-only call is read twice (the gate, a policy).
/// Bounded: documents up to [`HELD_EACH`] bytes, [`HELD_MOST`] in all,
/// forgotten together when full.
static READ: LazyLock<Mutex<HashMap<String, Read>>> = LazyLock::new(Mutex::default);

/// What a document reads as: its operations, or why none can be read.
type Read = Result<Vec<Operation>, &'static str>;
const HELD_EACH: usize = 64 << 10;
const HELD_MOST: usize = 4 << 20;

/// Every operation `document` holds, each read whole (its fragments
/// expanded), in the document's order; remembered ([`READ`]).
fn operations(document: &str) -> Result<Vec<Operation>, &'static str> {
    let held = || READ.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(read) = held().get(document) {
        return read.clone();
    }
    let read = operations_read(document);
    if document.len() <= HELD_EACH {
        let mut held = held();
        let size: usize = held.keys().map(String::len).sum();
        if size + document.len() > HELD_MOST {
            held.clear();
        }
        held.insert(document.to_owned(), read.clone());
    }
    read
}

/// [`operations`], read.
fn operations_read(document: &str) -> Result<Vec<Operation>, &'static str> {
    let document = parsed(document)?;
    let (mut operations, mut fragments) = (Vec::new(), HashMap::new());
    for definition in document.definitions() {
        match definition {
            Definition::OperationDefinition(o) => operations.push(o),
            Definition::FragmentDefinition(f) => {
                let named = f.fragment_name().and_then(|n| n.name());
                let named = named.map(|n| n.text().to_string()).unwrap_or_default();
                if fragments.insert(named, f).is_some() {
                    return Err(UNPARSED);
                }
            }
            _ => return Err(UNPARSED),
        }
    }
    let mut expanding = Expanding {
        fragments: &fragments,
        done: HashMap::new(),
        counted: HashMap::new(),
        within: Vec::new(),
    };
    // The whole document's expansion counted first, each fragment once and
    // no field copied: a document past the bound is refused before any
    // operation is read, and one within it copies at most that many names.
    let mut selections: u64 = 0;
    for operation in &operations {
        let each = operation.selection_set().map(|set| expanding.count(&set));
        selections = selections.saturating_add(each.transpose()?.unwrap_or(0));
        if selections > EXPANDED_MOST {
            return Err(FAN_OUT);
        }
    }
    let read = operations.iter().map(|operation| {
        let expanded = match operation.selection_set() {
            Some(set) => expanding.set(&set)?,
            None => Expanded::new(),
        };
        let fields: Vec<String> = expanded.into_iter().collect();
        let name = operation.name().map(|n| n.text().to_string());
        let kind = kind(operation);
        Ok(Operation {
            kind,
            name: name.unwrap_or_default(),
            fields,
        })
    });
    read.collect()
}

/// The field names a selection set selects at its own level, fragments
/// (spread or inline) expanded.
type Expanded = std::collections::BTreeSet<String>;

/// A document's fragments expanded, each once: what each expands to is
/// kept ([`Expanded`]; `counted`, how many selections), so a fragment
/// spread many times costs one expansion; `within` the fragments being
/// expanded, so that a cycle is refused as the spec refuses it.
struct Expanding<'a> {
    fragments: &'a HashMap<String, cst::FragmentDefinition>,
    done: HashMap<String, Expanded>,
    counted: HashMap<String, u64>,
    within: Vec<String>,
}

impl Expanding<'_> {
    /// How many selections `set` expands to at its own level, each
    /// fragment counted once however often it is spread (saturating); a
    /// cycle refused.
    fn count(&mut self, set: &cst::SelectionSet) -> Result<u64, &'static str> {
        let mut selections: u64 = 0;
        for selection in set.selections() {
            let more = match selection {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => match inline.selection_set() {
                    Some(inner) => self.count(&inner)?,
                    None => 0,
                },
                Selection::FragmentSpread(spread) => {
                    let named = spread.fragment_name().and_then(|n| n.name());
                    let name = named.ok_or(UNPARSED)?.text().to_string();
                    match self.counted.get(&name) {
                        Some(counted) => *counted,
                        None => {
                            if self.within.contains(&name) {
                                return Err(CYCLE);
                            }
                            let fragment = self.fragments.get(&name).ok_or(UNPARSED)?;
                            self.within.push(name.clone());
                            let inner = fragment.selection_set().map(|set| self.count(&set));
                            let counted = inner.transpose()?.unwrap_or(0);
                            self.within.pop();
                            self.counted.insert(name, counted);
                            counted
                        }
                    }
                }
            };
            selections = selections.saturating_add(more);
        }
        Ok(selections)
    }

    /// What `set` expands to at its own level (counted first: [`Self::count`]).
    fn set(&mut self, set: &cst::SelectionSet) -> Result<Expanded, &'static str> {
        let mut expanded = Expanded::new();
        for selection in set.selections() {
            match selection {
                Selection::Field(field) => {
                    let name = field.name().ok_or(UNPARSED)?;
                    expanded.insert(name.text().to_string());
                }
                Selection::InlineFragment(inline) => {
                    let inner = inline.selection_set().map(|inner| self.set(&inner));
                    expanded.extend(inner.transpose()?.unwrap_or_default());
                }
                Selection::FragmentSpread(spread) => {
                    let named = spread.fragment_name().and_then(|n| n.name());
                    expanded.extend(self.fragment(&named.ok_or(UNPARSED)?.text())?);
                }
            }
        }
        Ok(expanded)
    }

    /// What the fragment `name` expands to, expanded once.
    fn fragment(&mut self, name: &str) -> Result<Expanded, &'static str> {
        if let Some(done) = self.done.get(name) {
            return Ok(done.clone());
        }
        if self.within.iter().any(|w| w == name) {
            return Err(CYCLE);
        }
        let fragment = self.fragments.get(name).ok_or(UNPARSED)?;
        self.within.push(name.to_owned());
        let expanded = match fragment.selection_set() {
            Some(inner) => self.set(&inner)?,
            None => Expanded::new(),
        };
        self.within.pop();
        self.done.insert(name.to_owned(), expanded.clone());
        Ok(expanded)
    }
}

/// A provider's schema as `policy check` reads it: the fields at each
/// root it defines, and what the validator said of it.
pub(crate) struct Roots {
    /// Each root (`query`, `mutation`, `subscription`) and its fields.
    pub(crate) fields: Vec<(&'static str, Vec<String>)>,
    /// The validator's errors, each placed, when it does not validate.
    pub(crate) invalid: Vec<String>,
}

/// A schema's SDL `text` read and validated as the spec says
/// (apollo-compiler), `shown` naming the file. A provider's published
/// schema may break a rule (GitHub's defines two fields twice): its roots
/// are read as written, the errors said beside them.
///
/// # Errors
///
/// It defines no `query` root (it is no schema, or does not read).
pub(crate) fn root_fields(text: &str, shown: &str) -> Result<Roots, String> {
    let (schema, invalid) = match apollo_compiler::Schema::parse_and_validate(text, shown) {
        Ok(valid) => (valid.into_inner(), Vec::new()),
        Err(invalid) => {
            let each = invalid.errors.iter().map(|error| {
                let at = error.line_column_range().map(|range| range.start);
                let at = at.map_or_else(String::new, |at| format!("{}:{}:", at.line, at.column));
                format!("{shown}:{at} {}", error.error)
            });
            (invalid.partial, each.collect())
        }
    };
    let definition = &schema.schema_definition;
    let roots = [
        ("query", &definition.query),
        ("mutation", &definition.mutation),
        ("subscription", &definition.subscription),
    ];
    let fields: Vec<_> = (roots.into_iter())
        .filter_map(|(kind, name)| {
            let object = schema.get_object(name.as_ref()?.as_str())?;
            Some((
                kind,
                object.fields.keys().map(ToString::to_string).collect(),
            ))
        })
        .collect();
    if !fields.iter().any(|(kind, _)| *kind == "query") {
        let mut why = format!("{shown}: no GraphQL schema with a query root");
        (invalid.iter().take(3)).for_each(|error| why.push_str(&format!("\n{error}")));
        return Err(why);
    }
    Ok(Roots { fields, invalid })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn read(
        document: &str,
        name: Option<&str>,
    ) -> Result<(&'static str, String, Vec<String>), &'static str> {
        operation(document, name).map(|o| (o.kind, o.name, o.fields))
    }

    fn names(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn an_operation_is_read_in_every_shape_the_spec_allows() {
        assert_eq!(
            read("{ viewer { login } }", None),
            Ok(("query", String::new(), names(&["viewer"])))
        );
        assert_eq!(
            read(
                "query Me($n: Int) { me: viewer { login } rateLimit { cost } }",
                None
            ),
            Ok(("query", "Me".into(), names(&["rateLimit", "viewer"]))),
            "an alias is never the field"
        );
        let fragments = "mutation M { ...F ... on Mutation { deleteRepository(input: {}) { x } } }
            fragment F on Mutation { a: createIssue(input: {}) { issue { id } } ...G }
            fragment G on Mutation { closeIssue(input: {}) { x } }";
        assert_eq!(
            read(fragments, None),
            Ok((
                "mutation",
                "M".into(),
                names(&["closeIssue", "createIssue", "deleteRepository"])
            ))
        );
        let several = "query A { a } mutation B { b } subscription C { c }";
        assert_eq!(read(several, None), Err(UNNAMED));
        assert_eq!(
            read(several, Some("B")),
            Ok(("mutation", "B".into(), names(&["b"])))
        );
        assert_eq!(read(several, Some("C")).unwrap().0, "subscription");
        assert_eq!(read(several, Some("D")), Err(NOT_HELD));
        assert_eq!(read("{ a } { b }", None), Err(UNNAMED));
        assert_eq!(
            read("query A { a }", Some("")),
            Ok(("query", "A".into(), names(&["a"])))
        );
    }

    #[test]
    fn a_document_that_does_not_read_as_one_operation_is_refused() {
        for broken in [
            "",
            "{ a",
            "mutation { a } }",
            "type Query { a: Int }",
            "{ ...Missing }",
            "query { ...F } fragment F on Q { ...G } fragment G on Q { ...F }",
            "query { ...F } fragment F on Q { a } fragment F on Q { b }",
            "muta tion { a }",
        ] {
            assert!(read(broken, None).is_err(), "{broken:?}");
            assert!(only_queries(broken).is_err(), "{broken:?}");
        }
        let deep = format!("{}{}", "{ a ".repeat(200), "}".repeat(200));
        assert_eq!(read(&deep, None), Err(PAST_LIMITS), "nested past the bound");
        let long = "{ a }".repeat(TOKENS_MOST / 3);
        assert_eq!(read(&long, None), Err(PAST_LIMITS), "past the tokens read");
    }

    /// The fan-out of the issue: `levels` fragments, each spreading the
    /// next twice (legal GraphQL, 2^levels selections written out).
    pub(crate) fn fanned_out(levels: usize) -> String {
        let mut document = "query { ...F0 }\n".to_owned();
        for level in 0..levels {
            let next = format!("...F{} ", level + 1);
            document += &format!("fragment F{level} on Query {{ {next}{next}}}\n");
        }
        document += &format!("fragment F{levels} on Query {{ viewer {{ login }} }}\n");
        document
    }

    #[test]
    fn a_fragment_is_expanded_once_and_a_fan_out_or_a_cycle_refused() {
        let fanned = fanned_out(20);
        assert!(fanned.len() < 1000, "{}", fanned.len());
        assert_eq!(read(&fanned, None), Err(FAN_OUT));
        // Below the bound, spread as often as it is, read once.
        assert_eq!(
            read(&fanned_out(10), None).map(|r| r.2),
            Ok(names(&["viewer"]))
        );
        let cycle = "query { ...A } fragment A on Q { a ...B } fragment B on Q { ...A }";
        assert_eq!(read(cycle, None), Err(CYCLE));
        let shared = "mutation { ...A ...B } fragment A on M { x ...C } fragment B on M { ...C } \
                      fragment C on M { deleteRepository(input: {}) { x } }";
        let read = read(shared, None).map(|r| r.2);
        assert_eq!(read, Ok(names(&["deleteRepository", "x"])));
    }

    /// `operations` anonymous operations, each spreading `F` `spreads`
    /// times (or selecting `a`), and `F` selecting `fields` fields.
    pub(crate) fn many(operations: usize, spreads: usize, fields: usize) -> String {
        let spread = if spreads == 0 {
            "a".to_owned()
        } else {
            "...F".repeat(spreads)
        };
        let each = (0..operations).map(|_| format!("{{{spread}}}"));
        let fields: String = (0..fields).map(|i| format!("f{i} ")).collect();
        format!("{}fragment F on Q {{ {fields}}}", each.collect::<String>())
    }

    #[test]
    fn the_bound_counts_every_operation_of_a_document() {
        // The issue's ~50 KB: 5,000 operations spreading a 1,000-field fragment.
        let document = many(5_000, 1, 1_000);
        assert!(document.len() < 100_000, "{}", document.len());
        assert_eq!(operations_read(&document), Err(FAN_OUT));
        let within = many(49, 1, 1_000);
        assert_eq!(operations_read(&within).map(|o| o.len()), Ok(49));
    }

    proptest::proptest! {
        /// Whatever its shape, a document is refused exactly when its
        /// operations together expand past the bound, and read otherwise.
        #[test]
        fn a_document_is_read_or_refused_by_its_whole_expansion(
            operations in 1usize..80,
            spreads in 0usize..4,
            fields in 1usize..2_000,
        ) {
            let document = many(operations, spreads, fields);
            let each = if spreads == 0 { 1 } else { spreads * fields };
            let expanded = (operations * each) as u64;
            let read = operations_read(&document);
            match expanded > EXPANDED_MOST {
                true => proptest::prop_assert_eq!(read, Err(FAN_OUT)),
                false => proptest::prop_assert_eq!(read.map(|o| o.len()), Ok(operations)),
            }
        }
    }

    #[test]
    fn only_a_document_of_queries_alone_is_a_read() {
        assert_eq!(only_queries("{ viewer { login } }"), Ok(true));
        assert_eq!(only_queries("query A { a } query B { b }"), Ok(true));
        assert_eq!(only_queries("query A { a } mutation B { b }"), Ok(false));
        assert_eq!(only_queries("subscription { a }"), Ok(false));
        assert_eq!(
            only_queries("fragment F on Q { a }"),
            Ok(false),
            "no operation"
        );
        assert_eq!(only_queries("# mutation\n mutation { a }"), Ok(false));
    }

    #[test]
    fn an_endpoint_is_a_provider_and_a_path_a_star_one_segment() {
        let added = [("acme".to_owned(), "/api/*/gql".to_owned())];
        assert!(is_endpoint(&added, "GitHub", "/graphql"));
        assert!(is_endpoint(
            &added,
            "shopify",
            "/admin/api/2026-10/graphql.json"
        ));
        assert!(!is_endpoint(&added, "shopify", "/admin/api/graphql.json"));
        assert!(!is_endpoint(
            &added,
            "shopify",
            "/admin/api/a/b/graphql.json"
        ));
        assert!(!is_endpoint(&added, "gitlab", "/graphql"));
        assert!(!is_endpoint(&added, "github", "/graphql/"));
        assert!(is_endpoint(&added, "acme", "/api/v2/gql"));
        assert!(!is_endpoint(&[], "acme", "/api/v2/gql"));
    }
}

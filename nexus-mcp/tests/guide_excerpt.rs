//! The async guide (`docs/async.md`) shows this package's fetch as it is
//! compiled here: every line of its `rust,ignore` block, in order, in
//! `src/server/fetching.rs`, a `// …` line standing for lines left out.

#[test]
fn the_async_guide_shows_the_tool_as_compiled() {
    let readme = include_str!("../../docs/async.md");
    let main = include_str!("../src/server/fetching.rs");
    let section = &readme[readme
        .find("## An MCP server on rmcp")
        .expect("the section")..];
    let block = section
        .split("```rust,ignore\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a rust,ignore block");
    let source: Vec<&str> = main.lines().map(str::trim).collect();
    let mut from = 0;
    let mut shown = 0;
    for part in block
        .split('\n')
        .collect::<Vec<_>>()
        .split(|l| l.trim().starts_with("// …"))
    {
        let part: Vec<&str> = part
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if part.is_empty() || part == ["}"] {
            continue;
        }
        let at = source[from..]
            .windows(part.len())
            .position(|window| window == part.as_slice())
            .unwrap_or_else(|| {
                panic!(
                    "not in src/server/fetching.rs, in order:\n{}",
                    part.join("\n")
                )
            });
        from += at + part.len();
        shown += part.len();
    }
    assert!(shown > 5, "the block shows the tool");
}

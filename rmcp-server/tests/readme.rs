//! The README's async section shows this package's tool as it is compiled
//! here: every line of its `rust,ignore` block, in order, in `src/main.rs`.

#[test]
fn the_readme_shows_the_tool_as_compiled() {
    let readme = include_str!("../../README.md");
    let main = include_str!("../src/main.rs");
    let section = &readme[readme.find("## Async callers").expect("the section")..];
    let block = section
        .split("```rust,ignore\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a rust,ignore block");
    let shown: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let source: Vec<&str> = main.lines().map(str::trim).collect();
    let found = source.windows(shown.len()).any(|window| {
        window
            .iter()
            .copied()
            .filter(|l| !l.is_empty())
            .eq(shown.iter().copied())
    });
    assert!(shown.len() > 5, "the block shows the tool");
    assert!(found, "README block not in src/main.rs:\n{block}");
}

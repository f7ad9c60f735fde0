//! The layer order of the crate, enforced. Every top-level module has a tier; a module may
//! use modules of its own tier or below, never above, and the modules' imports form no cycle
//! (whatever the tiers). The test reads every `crate::…` path in the code of every file under
//! `src/` (comments are skipped), so an inline `crate::oidc::…` counts as much as a `use`.
//!
//! | tier | modules | what they are |
//! |---|---|---|
//! | 0 | `domain`, `i18n`, `secrets`, `testing` | pure types and rules, words, random secrets and hashes; test support (tests only) |
//! | 1 | `config`, `store`, `ephemeral`, `keys`, `tokens`, `mail`, `policy`, `cache`, `passwords`, `monitoring`, `telemetry`, `upstream`, `samlxml` | infrastructure: storage, keys, JWTs, mail, the pure policy evaluation, caches, password hashing, metrics and traces, the HTTP client toward partner IdPs, SAML XML and metadata |
//! | 2 | `services` | what Gatehouse does, free of HTTP |
//! | 3 | `web` | the HTTP boundary's shared machinery: templates, error pages and the envelopes the shared error rendering answers in (HTML, OAuth JSON, Graph JSON), cookies, same-origin checks |
//! | 4 | `oidc`, `saml`, `graph`, `pages`, `cli`, `health` | front doors: translate a protocol to services and back (`pages`: the sign-in, MFA, redemption, My Apps and security-info pages and the federation callbacks — the one door that matches a finished sign-in to the OIDC or SAML answer) |
//! | 5 | `startup`, `server` | the router, the listener, the application |

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Every top-level module and its tier.
    const TIERS: &[(&str, u8)] = &[
        ("domain", 0),
        ("i18n", 0),
        ("secrets", 0),
        ("testing", 0),
        ("config", 1),
        ("store", 1),
        ("ephemeral", 1),
        ("keys", 1),
        ("tokens", 1),
        ("mail", 1),
        ("policy", 1),
        ("cache", 1),
        ("passwords", 1),
        ("monitoring", 1),
        ("telemetry", 1),
        ("upstream", 1),
        ("samlxml", 1),
        ("services", 2),
        ("web", 3),
        ("oidc", 4),
        ("saml", 4),
        ("graph", 4),
        ("pages", 4),
        ("cli", 4),
        ("health", 4),
        ("startup", 5),
        ("server", 5),
        ("layering", 5),
    ];

    /// Files of the crate that are not modules of their own.
    const ROOTS: &[&str] = &["lib.rs", "main.rs"];

    fn tier(module: &str) -> Option<u8> {
        TIERS.iter().find(|(m, _)| *m == module).map(|(_, t)| *t)
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The code of a file without its comments (line comments and doc comments; the crate
    /// has no block comments).
    fn code(text: &str) -> String {
        text.lines()
            .map(|line| {
                let trimmed = line.trim_start();
                if trimmed.starts_with("//") {
                    ""
                } else {
                    line.split(" //").next().unwrap_or(line)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The top-level modules a piece of code names through `crate::`, including the
    /// grouped form `crate::{a, b::c}`.
    fn named_modules(code: &str) -> BTreeSet<String> {
        let mut named = BTreeSet::new();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let preceded = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !preceded {
                if let Some(group) = after.strip_prefix('{') {
                    let mut depth = 0usize;
                    let mut item_start = true;
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => item_start = true,
                            c if item_start && (c.is_alphanumeric() || c == '_') => {
                                let name: String = group[i..]
                                    .chars()
                                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                                    .collect();
                                named.insert(name);
                                item_start = false;
                            }
                            _ => {}
                        }
                    }
                } else {
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        named.insert(name);
                    }
                }
            }
            rest = after;
        }
        named
    }

    /// Which top-level modules each top-level module uses.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let first = relative
                .components()
                .next()
                .expect("a path")
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            if ROOTS.contains(&first.as_str()) {
                continue;
            }
            let module = first.trim_end_matches(".rs").to_owned();
            let text = std::fs::read_to_string(&file).expect("a readable file");
            let used = named_modules(&code(&text));
            let entry = graph.entry(module.clone()).or_default();
            entry.extend(
                used.into_iter()
                    .filter(|m| *m != module && tier(m).is_some()),
            );
        }
        graph
    }

    #[test]
    fn every_module_has_a_tier() {
        let untiered: Vec<String> = imports()
            .into_keys()
            .filter(|m| tier(m).is_none())
            .collect();
        assert!(
            untiered.is_empty(),
            "give these modules a tier in src/layering.rs: {untiered:?}"
        );
    }

    #[test]
    fn no_module_uses_a_higher_tier() {
        let mut wrong = Vec::new();
        for (module, used) in imports() {
            let Some(own) = tier(&module) else { continue };
            for other in used {
                if tier(&other).is_some_and(|t| t > own) {
                    wrong.push(format!("{module} (tier {own}) uses {other}"));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "layer order broken:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn the_modules_imports_have_no_cycle() {
        let graph = imports();
        // Depth-first search with colours; a grey module met again closes a cycle.
        fn visit<'a>(
            module: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            colour: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
            cycles: &mut Vec<String>,
        ) {
            colour.insert(module, 1);
            path.push(module);
            for next in graph.get(module).into_iter().flatten() {
                match colour.get(next.as_str()).copied().unwrap_or(0) {
                    0 => visit(next, graph, colour, path, cycles),
                    1 => {
                        let start = path.iter().position(|m| m == next).unwrap_or(0);
                        let mut cycle = path[start..].to_vec();
                        cycle.push(next);
                        cycles.push(cycle.join(" → "));
                    }
                    _ => {}
                }
            }
            path.pop();
            colour.insert(module, 2);
        }
        let mut colour = BTreeMap::new();
        let mut cycles = Vec::new();
        for module in graph.keys() {
            if colour.get(module.as_str()).copied().unwrap_or(0) == 0 {
                visit(module, &graph, &mut colour, &mut Vec::new(), &mut cycles);
            }
        }
        assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    }

    #[test]
    fn tiers_below_the_doors_use_no_http_framework() {
        // Tiers 0–2 decide and store; only the HTTP boundary (web) and the doors know axum.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let first = relative.components().next().expect("a path");
            let module = first.as_os_str().to_string_lossy();
            let module = module.trim_end_matches(".rs");
            if tier(module).is_none_or(|t| t > 2) {
                continue;
            }
            let text = code(&std::fs::read_to_string(&file).expect("a readable file"));
            if text.contains("axum") {
                wrong.push(relative.display().to_string());
            }
        }
        assert!(wrong.is_empty(), "axum below the doors: {wrong:?}");
    }

    #[test]
    fn the_reader_finds_grouped_and_inline_paths() {
        let code = code(
            "use crate::{domain::tenant::Tenant, store::{self, Store}};\n\
             // crate::oidc in a comment\n\
             let x = crate::keys::KeyRing::new(); // crate::saml\n\
             use mycrate::graph;",
        );
        let named = named_modules(&code);
        assert_eq!(
            named.into_iter().collect::<Vec<_>>(),
            ["domain", "keys", "store"]
        );
    }
}

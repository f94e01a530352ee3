//! The core's layers import only from layers below them (DESIGN "Inside the core"): every
//! `crate::…` path in `sip-core/src` is read, resolved to the file that defines what it
//! names, and checked against the layer order. A module that reaches up — the transaction
//! layer calling into the Endpoint, a usage naming a transaction table — fails here.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

/// The layers, lowest first, each a list of path prefixes under `sip-core/src` (a file
/// takes the layer of its longest matching prefix).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation: messages, SDP, digest authentication, ids, the transaction machines, the pure dialog",
        &[
            "message/",
            "auth/",
            "sdp/",
            "rng.rs",
            "ids.rs",
            "transaction/mod.rs",
            "transaction/client_invite.rs",
            "transaction/client_non_invite.rs",
            "transaction/server_invite.rs",
            "transaction/server_non_invite.rs",
            "transaction/timers.rs",
            "transaction/key.rs",
            "dialog/mod.rs",
            "dialog/offer_answer.rs",
            "dialog/tests.rs",
        ],
    ),
    (
        "shared vocabulary: transports, errors, events, configuration, owners, the call, subscription, registration and pager models, timer ids",
        &[
            "transport.rs",
            "dns.rs",
            "budget.rs",
            "error.rs",
            "event.rs",
            "config.rs",
            "owner.rs",
            "call.rs",
            "subscription.rs",
            "registration.rs",
            "pager.rs",
            "timer_queue.rs",
        ],
    ),
    (
        "shared state below the usages: the connections and what every layer shares",
        &["shared.rs", "connections.rs", "sources.rs", "locate/", "local.rs"],
    ),
    (
        "the transaction layer and the dialog table",
        &[
            "transaction/layer.rs",
            "transaction/events.rs",
            "transaction/entries.rs",
            "transaction/received.rs",
            "dialog/table.rs",
            "dialog/index.rs",
        ],
    ),
    ("usages", &["usage/"]),
    ("the endpoint", &["endpoint/"]),
    ("the simulator and the crate root", &["sim/", "lib.rs"]),
];

/// Names re-exported by a module from a file of a higher layer than the module's own
/// `mod.rs`: a path naming them resolves to that file.
const REEXPORTS: &[(&str, &str)] = &[
    ("transaction::TransactionLayer", "transaction/layer.rs"),
    ("transaction::TransactionEvent", "transaction/events.rs"),
    ("transaction::NewRequest", "transaction/events.rs"),
    ("transaction::RequestFields", "transaction/events.rs"),
    ("transaction::mark_received", "transaction/received.rs"),
    ("dialog::DialogTable", "dialog/table.rs"),
    ("dialog::Usage", "dialog/table.rs"),
    ("endpoint::", "endpoint/mod.rs"),
    ("usage::", "usage/mod.rs"),
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip-core/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer of a file (its path relative to `src`, with `/`).
fn layer_of(file: &str) -> usize {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, (_, prefixes))| prefixes.iter().map(move |p| (layer, *p)))
        .filter(|(_, prefix)| file.starts_with(prefix))
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(layer, _)| layer)
        .unwrap_or_else(|| panic!("{file} is in no layer: add it to LAYERS"))
}

/// The file a `crate::` path (without the `crate::`) names.
fn file_of(path: &str) -> String {
    if let Some((_, file)) = REEXPORTS.iter().find(|(prefix, _)| path.starts_with(prefix)) {
        return (*file).to_owned();
    }
    let module = path.split("::").next().unwrap();
    let root = source_root();
    if root.join(format!("{module}.rs")).exists() {
        format!("{module}.rs")
    } else {
        format!("{module}/mod.rs")
    }
}

/// Every `crate::a::B` path in `text`, braces of a `use` expanded one level
/// (`crate::a::{B, C}` gives `a::B` and `a::C`). Comments are skipped, and so is a unit-test
/// module at the end of the file (`#[cfg(test)] mod tests`): a unit test may drive the whole
/// stack, the simulator included, to check a layer's internals.
fn crate_paths(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let head = rest[..end].trim_end_matches(':');
        if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').map_or(rest.len(), |c| end + c);
            for item in rest[end + 1..close].split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                if !item.is_empty() {
                    paths.push(format!("{head}::{}", item.trim_start_matches('{')));
                }
            }
        } else {
            paths.push(head.to_owned());
        }
    }
    paths
}

#[test]
fn no_module_of_the_core_imports_from_a_layer_above_it() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut upward = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let layer = layer_of(&name);
        let text = std::fs::read_to_string(file).unwrap();
        for path in crate_paths(&text) {
            let target = file_of(&path);
            let target_layer = layer_of(&target);
            if target_layer > layer {
                upward.push(format!(
                    "{name} ({}) uses crate::{path}, in {target} ({})",
                    LAYERS[layer].0, LAYERS[target_layer].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_impl_endpoint_block_lives_outside_the_endpoint_module() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let outside: Vec<_> = files
        .iter()
        .filter(|f| !f.starts_with(root.join("endpoint")))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("impl Endpoint {") || text.contains("impl Endpoint\n")
        })
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

#[test]
fn the_check_sees_an_upward_import() {
    // The transaction layer naming the Endpoint would be an upward import.
    let paths = crate_paths("use crate::endpoint::{Endpoint, Event};\nfn f() { crate::usage::Seam; }");
    assert_eq!(paths, ["endpoint::Endpoint", "endpoint::Event", "usage::Seam"]);
    assert!(layer_of(&file_of(&paths[0])) > layer_of("transaction/layer.rs"));
    assert!(layer_of(&file_of(&paths[2])) > layer_of("transaction/layer.rs"));
}

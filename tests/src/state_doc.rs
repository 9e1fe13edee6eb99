//! Reading desired-state answers (`POST /api/v1/state`, plan or apply) and JSON lists in tests: the
//! plan lines of one kind, and an entry of a list by its name.

use serde_json::Value;

/// `(name, action, fields)` of every line of `kind` (`jail`, `notification`, …) in a plan or apply
/// answer.
pub fn plan_lines(answer: &Value, kind: &str) -> Vec<(String, String, Vec<String>)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    answer["changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| {
            let fields = c["fields"]
                .as_array()
                .map(|f| f.iter().map(text).collect())
                .unwrap_or_default();
            (text(&c["name"]), text(&c["action"]), fields)
        })
        .collect()
}

/// The entry of `list` whose `name` is `name` (panics naming the list when there is none).
pub fn named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list:?}"))
}

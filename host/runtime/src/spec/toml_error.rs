//! A TOML error (bad syntax, an unknown field, a value of the wrong type)
//! as the tree file's errors are: the field it is about, in TOML's words.

use std::ops::Range;

/// Where in `text` the error is, the dotted path of the field it is about
/// (`supervisor.children[1].restart`; `toml` when the text does not parse
/// far enough to tell), and what is wrong, in TOML's words rather than
/// serde's Rust ones.
pub fn explain(error: &toml::de::Error, text: &str) -> (Range<usize>, String, String) {
    let span = error.span().unwrap_or(0..0);
    let (document, _) = toml::de::DeTable::parse_recoverable(text);
    let field = field_at(document.get_ref(), span.start, "")
        .or_else(|| key_in_table_at(document.get_ref(), text, span.clone()))
        .filter(|field| !field.is_empty())
        .unwrap_or_else(|| "toml".to_string());
    let mut message = error.message().trim().replace('\n', " ");
    // serde names what it expected by Rust type: `struct RawNode`, `i64`.
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("a sequence", "an array"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
        ("expected a map", "expected a table"),
    ] {
        message = message.replace(rust, toml);
    }
    // An integer past 64 bits is read as an i128 and refused as one.
    if let Some(rest) = message.strip_prefix("invalid type: integer `")
        && let Some((number, _)) = rest.split_once("` as i128")
    {
        message =
            format!("the integer {number} is out of range (at most 64 bits: -2^63 to 2^63-1)");
    }
    while let Some(at) = message.find("struct ") {
        let end = message[at + "struct ".len()..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(message.len(), |n| at + "struct ".len() + n);
        message.replace_range(at..end, "a table");
    }
    (span, field, message)
}

/// The dotted path of a bare key at `span` that the document does not hold
/// (the second of a duplicate key): in the table whose header comes last
/// before it.
fn key_in_table_at(
    document: &toml::de::DeTable<'_>,
    text: &str,
    span: Range<usize>,
) -> Option<String> {
    fn headers(table: &toml::de::DeTable<'_>, path: &str, into: &mut Vec<(usize, String)>) {
        for (key, value) in table.iter() {
            let here = if path.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{path}.{}", key.get_ref())
            };
            match value.get_ref() {
                toml::de::DeValue::Table(inner) => {
                    into.push((value.span().start, here.clone()));
                    headers(inner, &here, into);
                }
                toml::de::DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let toml::de::DeValue::Table(inner) = item.get_ref() {
                            let indexed = format!("{here}[{i}]");
                            into.push((item.span().start, indexed.clone()));
                            headers(inner, &indexed, into);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let key = text.get(span.clone())?;
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let mut tables = Vec::new();
    headers(document, "", &mut tables);
    let table = tables
        .into_iter()
        .filter(|(start, _)| *start <= span.start)
        .max_by_key(|(start, _)| *start);
    Some(match table {
        Some((_, path)) => format!("{path}.{key}"),
        None => key.to_string(),
    })
}

/// The dotted path (`supervisor.children[1].restart`) of the deepest key
/// or value of `table` whose text holds byte `at`.
fn field_at(table: &toml::de::DeTable<'_>, at: usize, path: &str) -> Option<String> {
    for (key, value) in table.iter() {
        let here = if path.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{path}.{}", key.get_ref())
        };
        if key.span().contains(&at) {
            return Some(here);
        }
        let inner = match value.get_ref() {
            toml::de::DeValue::Table(inner) => field_at(inner, at, &here),
            toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let indexed = format!("{here}[{i}]");
                match item.get_ref() {
                    toml::de::DeValue::Table(inner) => field_at(inner, at, &indexed),
                    _ => None,
                }
                .or_else(|| item.span().contains(&at).then_some(indexed))
            }),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
        if value.span().contains(&at) {
            return Some(here);
        }
    }
    None
}

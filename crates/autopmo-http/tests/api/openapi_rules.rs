//! The structural rules of OpenAPI 3.1 checked on our document, by hand:
//! the Rust OpenAPI crates (oas3, openapiv3_1) parse leniently (a response
//! without its required `description` parses fine) rather than validate.
//! Each function returns the problems found, as readable lines.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The operation keys of a Path Item.
pub const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const TOP_LEVEL: [&str; 10] = [
    "openapi",
    "info",
    "jsonSchemaDialect",
    "servers",
    "paths",
    "webhooks",
    "components",
    "security",
    "tags",
    "externalDocs",
];
const PATH_ITEM: [&str; 5] = ["summary", "description", "servers", "parameters", "$ref"];
const JSON_TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "string", "integer"];
const SCHEME_TYPES: [&str; 5] = ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"];

fn obj(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flat_map(Map::iter)
}

fn arr(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, &String, &Value, &Value)> {
    obj(&doc["paths"]).flat_map(|(path, item)| {
        obj(item)
            .filter(|(k, _)| METHODS.contains(&k.as_str()))
            .map(move |(m, op)| (format!("{} {path}", m.to_ascii_uppercase()), path, item, op))
    })
}

fn check_schema(schema: &Value, at: &str, out: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        if !schema.is_boolean() {
            out.push(format!("{at}: a schema is an object or a boolean"));
        }
        return;
    };
    let known = |t: &Value| t.as_str().is_some_and(|t| JSON_TYPES.contains(&t));
    match map.get("type") {
        None => {}
        Some(Value::Array(ts)) if ts.iter().all(known) => {}
        Some(t) if known(t) => {}
        Some(t) => out.push(format!("{at}: invalid type {t}")),
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for r in arr(&schema["required"]) {
            if !props.contains_key(r.as_str().unwrap_or_default()) {
                out.push(format!("{at}: required {r} is not a property"));
            }
        }
    }
    for (k, v) in obj(&schema["properties"]) {
        check_schema(v, &format!("{at}/properties/{k}"), out);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = map.get(key) {
            check_schema(v, &format!("{at}/{key}"), out);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, v) in arr(&schema[key]).enumerate() {
            check_schema(v, &format!("{at}/{key}/{i}"), out);
        }
    }
}

fn check_content(content: &Value, at: &str, out: &mut Vec<String>) {
    if !content.is_object() {
        out.push(format!("{at}: content is not a map"));
    }
    for (mime, media) in obj(content) {
        if !mime.contains('/') {
            out.push(format!("{at}: {mime} is not a media type"));
        }
        if let Some(schema) = media.get("schema") {
            check_schema(schema, &format!("{at} {mime}"), out);
        }
    }
}

fn check_refs(doc: &Value, node: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = node.get("$ref") {
        let target = r.as_str().and_then(|r| r.strip_prefix('#')).and_then(|p| doc.pointer(p));
        if target.is_none() {
            out.push(format!("{at}: $ref {} does not resolve inside the document", r.as_str().unwrap_or("?")));
        }
    }
    for (k, v) in obj(node) {
        check_refs(doc, v, &format!("{at}/{k}"), out);
    }
    for (i, v) in arr(node).enumerate() {
        check_refs(doc, v, &format!("{at}/{i}"), out);
    }
}

fn is_status_code(code: &str) -> bool {
    let mut chars = code.chars();
    let first = chars.next().is_some_and(|c| ('1'..='5').contains(&c));
    let rest: String = chars.collect();
    code == "default" || (first && (rest == "XX" || (rest.len() == 2 && rest.chars().all(|c| c.is_ascii_digit()))))
}

fn check_parameters(at: &str, path: &str, params: &[&Value], out: &mut Vec<String>) {
    let templated: BTreeSet<&str> =
        path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(name, _)| name).collect();
    let (mut seen, mut declared) = (BTreeSet::new(), BTreeSet::new());
    for param in params {
        let name = param["name"].as_str().unwrap_or_default();
        let place = param["in"].as_str().unwrap_or_default();
        if name.is_empty() || !["query", "header", "path", "cookie"].contains(&place) {
            out.push(format!("{at}: parameter {param} needs a name and a valid `in`"));
        }
        if !seen.insert((name.to_ascii_lowercase(), place)) {
            out.push(format!("{at}: parameter {name} in {place} is declared twice"));
        }
        if param.get("schema").is_some() == param.get("content").is_some() {
            out.push(format!("{at}: parameter {name} needs exactly one of schema and content"));
        }
        if let Some(schema) = param.get("schema") {
            check_schema(schema, &format!("{at} parameter {name}"), out);
        }
        if place == "path" {
            declared.insert(name);
            if param["required"] != true {
                out.push(format!("{at}: path parameter {name} must be required: true"));
            }
        }
    }
    for missing in templated.difference(&declared) {
        out.push(format!("{at}: {{{missing}}} is in the path but not declared"));
    }
    for extra in declared.difference(&templated) {
        out.push(format!("{at}: path parameter {extra} is not in the path"));
    }
}

fn check_top(doc: &Value, out: &mut Vec<String>) {
    for (k, _) in obj(doc) {
        if !k.starts_with("x-") && !TOP_LEVEL.contains(&k.as_str()) {
            out.push(format!("unknown top-level key {k}"));
        }
    }
    let version = doc["openapi"].as_str().unwrap_or_default();
    let parts: Vec<&str> = version.split('.').collect();
    if !matches!(parts.as_slice(), ["3", "1", patch] if patch.parse::<u32>().is_ok()) {
        out.push(format!("openapi is {version:?}, not 3.1.x"));
    }
    for k in ["title", "version"] {
        if !doc["info"][k].is_string() {
            out.push(format!("info.{k} is required"));
        }
    }
    for (name, s) in obj(&doc["components"]["securitySchemes"]) {
        let kind = s["type"].as_str().unwrap_or_default();
        if !SCHEME_TYPES.contains(&kind) || (kind == "http" && !s["scheme"].is_string()) {
            out.push(format!("security scheme {name} is invalid: {s}"));
        }
    }
    for (kind, entries) in obj(&doc["components"]) {
        for (name, _) in obj(entries) {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
                out.push(format!("components.{kind}.{name}: invalid name"));
            }
        }
    }
    for (name, schema) in obj(&doc["components"]["schemas"]) {
        check_schema(schema, &format!("#/components/schemas/{name}"), out);
    }
}

/// Every structural rule except the `description` of responses (see
/// [`response_description_problems`]).
pub fn structure_problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_top(doc, &mut out);
    let schemes = &doc["components"]["securitySchemes"];
    for (path, item) in obj(&doc["paths"]) {
        if !path.starts_with('/') {
            out.push(format!("{path}: a path starts with /"));
        }
        for (k, _) in obj(item) {
            let k = k.as_str();
            if !METHODS.contains(&k) && !PATH_ITEM.contains(&k) && !k.starts_with("x-") {
                out.push(format!("{path}: unknown key {k}"));
            }
        }
    }
    let mut operation_ids = BTreeSet::new();
    for (at, path, item, op) in operations(doc) {
        if let Some(id) = op["operationId"].as_str()
            && !operation_ids.insert(id)
        {
            out.push(format!("{at}: operationId {id} is not unique"));
        }
        let params: Vec<&Value> = arr(&item["parameters"]).chain(arr(&op["parameters"])).collect();
        check_parameters(&at, path, &params, &mut out);
        if let Some(body) = op.get("requestBody") {
            let empty = body["content"].as_object().is_none_or(Map::is_empty);
            if body.get("$ref").is_none() && empty {
                out.push(format!("{at}: requestBody needs content"));
            }
            check_content(&body["content"], &format!("{at} requestBody"), &mut out);
        }
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        if responses.is_empty() {
            out.push(format!("{at}: no responses"));
        }
        for (code, r) in &responses {
            if !is_status_code(code) {
                out.push(format!("{at}: {code} is not a status code"));
            }
            if let Some(content) = r.get("content") {
                check_content(content, &format!("{at} {code}"), &mut out);
            }
        }
        let security: Vec<&String> = arr(&op["security"]).flat_map(|r| obj(r).map(|(k, _)| k)).collect();
        for name in &security {
            if schemes.get(name.as_str()).is_none() {
                out.push(format!("{at}: security scheme {name} is not defined"));
            }
        }
        // Our own rule: the API needs credentials and documents the 401.
        let public =
            crate::protocol::PUBLIC_OPERATIONS.iter().any(|(m, p)| format!("{} {p}", m.to_ascii_uppercase()) == at);
        if path.starts_with("/api/v1/") && !public && (security.is_empty() || !responses.contains_key("401")) {
            out.push(format!("{at}: an /api/v1 operation declares bearer security and a 401"));
        }
    }
    check_refs(doc, doc, "#", &mut out);
    out
}

/// Responses without the `description` OpenAPI 3.1 requires.
pub fn response_description_problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _, _, op) in operations(doc) {
        for (code, r) in obj(&op["responses"]) {
            if r.get("$ref").is_none() && !r["description"].is_string() {
                out.push(format!("{at} {code}"));
            }
        }
    }
    out
}

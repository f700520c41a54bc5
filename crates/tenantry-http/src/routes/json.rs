//! JSON request bodies that are objects, as the OpenAPI documents say.
//!
//! serde fills a struct from a JSON array of its fields in order as readily as from an object,
//! so `web::Json<LedgerPatch>` took `[null, null]` for `{"name": null, "parent_id": null}` and
//! moved the ledger to the top of the chart. [`JsonObject`] (the body) and [`objects`] (a list of
//! objects inside it) read objects only.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// `web::Json<T>` for a body that must be a JSON object: anything else is a 422 on `body`. The
/// app's `JsonConfig` still decides the limit, the content type and malformed JSON.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn invalid_body(message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError::new("body", message)])
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = json.await?;
            if !value.is_object() {
                return Err(invalid_body("must be a JSON object").into());
            }
            let mut nul = Vec::new();
            find_nul(&value, &mut String::new(), &mut nul);
            if !nul.is_empty() {
                return Err(ApiError::Validation(nul).into());
            }
            serde_json::from_value(value)
                .map(JsonObject)
                .map_err(|e| invalid_body(e.to_string()).into())
        })
    }
}

/// Text holding U+0000, which PostgreSQL cannot store (it refused the statement: a 500), so
/// it is refused up front on both dialects: one [`FieldError`] per string, named like the
/// handlers name fields (`name`, `lines[2].description`).
fn find_nul(value: &Value, path: &mut String, out: &mut Vec<FieldError>) {
    match value {
        Value::String(s) if s.contains('\0') => {
            let field = if path.is_empty() {
                "body"
            } else {
                path.as_str()
            };
            out.push(FieldError::new(
                field.to_owned(),
                "must not contain NUL (U+0000)",
            ));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                find_nul(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                find_nul(item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// `#[serde(default, deserialize_with = "objects")]` for an optional list of objects: absent or
/// `null` is `None`; an item that is not an object is refused.
pub fn objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let Some(items) = Option::<Vec<Map<String, Value>>>::deserialize(d)? else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(Value::Object(item)).map_err(D::Error::custom))
        .collect::<Result<_, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Line {
        a: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(default, deserialize_with = "objects")]
        lines: Option<Vec<Line>>,
    }

    #[test]
    fn nul_is_found_wherever_it_is() {
        let body = serde_json::json!({
            "name": "a\u{0}b",
            "ok": "fine",
            "lines": [{"description": "x"}, {"description": "\u{0}"}],
        });
        let mut found = Vec::new();
        find_nul(&body, &mut String::new(), &mut found);
        let fields: Vec<_> = found.iter().map(|f| f.field.as_ref()).collect();
        assert_eq!(fields, ["lines[1].description", "name"]);
    }

    #[test]
    fn lists_hold_objects_only() {
        let doc: Doc = serde_json::from_str(r#"{"lines": [{"a": 1}, {}]}"#).unwrap();
        assert_eq!(doc.lines.unwrap(), [Line { a: Some(1) }, Line { a: None }]);
        assert!(
            serde_json::from_str::<Doc>(r#"{}"#)
                .unwrap()
                .lines
                .is_none()
        );
        assert!(
            serde_json::from_str::<Doc>(r#"{"lines": null}"#)
                .unwrap()
                .lines
                .is_none()
        );
        let err = serde_json::from_str::<Doc>(r#"{"lines": [[1]]}"#).unwrap_err();
        assert!(err.is_data(), "{err}");
        // What serde alone would have taken.
        assert!(serde_json::from_str::<Vec<Line>>("[[1]]").is_ok());
    }
}

//! Small helpers to take apart raw Redis replies (stream reads and script results).

use crate::error::RedisStoreError;
use redis::Value;

/// The elements of an array-like reply (`Nil` is empty).
pub(crate) fn items(v: Value) -> Result<Vec<Value>, RedisStoreError> {
    match v {
        Value::Array(a) | Value::Set(a) => Ok(a),
        Value::Nil => Ok(Vec::new()),
        Value::Map(m) => Ok(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        other => Err(RedisStoreError::Protocol(format!(
            "expected an array, got {}",
            kind(&other)
        ))),
    }
}

/// A binary-safe string reply.
pub(crate) fn bytes(v: Value) -> Result<Vec<u8>, RedisStoreError> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(RedisStoreError::Protocol(format!(
            "expected a string, got {}",
            kind(&other)
        ))),
    }
}

/// A UTF-8 string reply.
pub(crate) fn string(v: Value) -> Result<String, RedisStoreError> {
    String::from_utf8(bytes(v)?).map_err(|_| RedisStoreError::Protocol("non-UTF-8 id".into()))
}

/// An integer reply (or a string holding one).
pub(crate) fn int(v: Value) -> Result<i64, RedisStoreError> {
    match v {
        Value::Int(i) => Ok(i),
        Value::BulkString(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RedisStoreError::Protocol("expected an integer".into())),
        other => Err(RedisStoreError::Protocol(format!(
            "expected an integer, got {}",
            kind(&other)
        ))),
    }
}

/// The reply's type name, for error messages (never its content).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "integer",
        Value::BulkString(_) => "bulk string",
        Value::Array(_) => "array",
        Value::SimpleString(_) => "simple string",
        Value::Okay => "OK",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        _ => "other",
    }
}

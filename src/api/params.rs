//! Query parameters, parsed strictly: an unknown name, a name given twice,
//! an empty or a bad value is a 400 that names the parameter.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::ApiError;

pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Accepts only the `allowed` names, each at most once.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_parameter(
                    &name,
                    format!(
                        "unknown parameter; this endpoint takes {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if map.contains_key(&name) {
                return Err(ApiError::bad_parameter(&name, "given more than once"));
            }
            if value.is_empty() {
                return Err(ApiError::bad_parameter(
                    &name,
                    "empty; leave the parameter out for its default",
                ));
            }
            map.insert(name, value);
        }
        Ok(Params { map })
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.map.get(name).filter(|v| !v.is_empty()).cloned()
    }

    pub fn partition(&self, name: &str) -> Result<Option<i32>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) => match v.parse::<i32>() {
                Ok(p) if p >= 0 => Ok(Some(p)),
                _ => Err(ApiError::bad_parameter(
                    name,
                    format!("'{v}' is not a partition number (0 or more)"),
                )),
            },
        }
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| ApiError::bad_parameter(name, format!("'{v}' is not a whole number"))),
        }
    }

    /// A page size: default `default`, at most `max`.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.u64("limit")? {
            None => Ok(default),
            Some(0) => Err(ApiError::bad_parameter("limit", "must be at least 1")),
            Some(n) if n as usize > max => Err(ApiError::bad_parameter(
                "limit",
                format!("{n} is more than the maximum of {max}"),
            )),
            Some(n) => Ok(n as usize),
        }
    }

    pub fn cursor(&self) -> Result<Option<Vec<u8>>, ApiError> {
        match self.string("cursor") {
            None => Ok(None),
            Some(c) => crate::store::unhex(&c)
                .filter(|c| !c.is_empty())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_parameter("cursor", "not a cursor returned by this API")
                }),
        }
    }

    /// A point in time, as RFC 3339 (`2026-01-02T03:04:05Z`) or as a
    /// duration before now (`15m`, `2h`); returned as unix ms.
    pub fn since(&self) -> Result<Option<u64>, ApiError> {
        let Some(v) = self.string("since") else {
            return Ok(None);
        };
        if let Ok(t) = humantime::parse_rfc3339_weak(&v) {
            return Ok(Some(
                t.duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            ));
        }
        if let Ok(d) = humantime::parse_duration(&v) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            return Ok(Some(now.saturating_sub(d).as_millis() as u64));
        }
        Err(ApiError::bad_parameter(
            "since",
            format!(
                "'{v}' is neither an RFC 3339 time like 2026-01-02T03:04:05Z nor a duration like 15m"
            ),
        ))
    }
}

pub use crate::alert::rfc3339;

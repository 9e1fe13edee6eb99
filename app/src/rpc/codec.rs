//! The response encoding of every server function: JSON, exactly as `server_fn`'s own `Json` writes it
//! (same bytes, same `application/json` content type, so REST-style callers of `/rpc/*` see no change),
//! but decoded in the browser with `serde_json::from_str` instead of `from_slice`.
//!
//! Why: the data a page hydrates from the server-rendered HTML (every `Resource`) is decoded by Leptos
//! with `serde_json::from_str`, and `server_fn`'s `Json` decodes a call's response with `from_slice`.
//! The two are different instantiations of serde_json's whole deserializer, so every type that arrives
//! both ways (most DTOs: first hydrated, then refetched) was compiled into the WASM twice. Decoding
//! responses the same way as resources drops the second copy (see the size table in issue 18).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::{DeserializeOwned, Error as _};
use serde::Serialize;

/// JSON whose decoder shares its code with the resources' (see the module docs).
#[derive(Debug)]
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// The output encoding of the server functions: a `POST` answered with JSON ([`JsonTextEncoding`]).
pub type JsonText = Post<JsonTextEncoding>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_server_fn_json() {
        let value = vec![("a".to_string(), 1u32), ("é".to_string(), 2)];
        let bytes = <JsonTextEncoding as Encodes<_>>::encode(&value).unwrap();
        assert_eq!(&bytes[..], serde_json::to_vec(&value).unwrap().as_slice());
        let back: Vec<(String, u32)> = JsonTextEncoding::decode(bytes).unwrap();
        assert_eq!(back, value);
        let bad = <JsonTextEncoding as Decodes<Vec<u32>>>::decode(Bytes::from_static(b"\xff"));
        assert!(bad.is_err());
    }
}

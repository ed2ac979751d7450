//! SCRAM channel binding: the client's GS2 flag and the `c=` value it must
//! send back in client-final.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The only channel-binding type PostgreSQL (and so pgiris) supports.
pub const TLS_SERVER_END_POINT: &str = "tls-server-end-point";

/// What this connection binds to: the `tls-server-end-point` hash (RFC 5929
/// section 4.1) of the server certificate, computed by the TLS layer with
/// the certificate's signature hash (MD5 and SHA-1 upgraded to SHA-256).
/// Absent on plaintext connections and for certificates without a usable
/// hash (Ed25519, RSA-PSS); then -PLUS is not offered.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBindingData {
    end_point_hash: Vec<u8>,
}

impl ChannelBindingData {
    pub fn tls_server_end_point(hash: Vec<u8>) -> ChannelBindingData {
        ChannelBindingData {
            end_point_hash: hash,
        }
    }

    pub fn end_point_hash(&self) -> &[u8] {
        &self.end_point_hash
    }
}

impl fmt::Debug for ChannelBindingData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelBindingData({} bytes)", self.end_point_hash.len())
    }
}

/// The GS2 channel-binding flag of client-first (RFC 5802 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    /// `n`: the client does not support channel binding (or chose not to).
    NotSupportedClient,
    /// `y`: the client supports it but thinks the server does not. If the
    /// server offered -PLUS, that is a downgrade by someone in the middle.
    NotSupportedServer,
    /// `p=tls-server-end-point`: the client requires channel binding.
    Required,
}

impl ChannelBinding {
    /// The GS2 header the client sent (authzid is refused, so it is empty).
    pub fn gs2_header(self) -> String {
        match self {
            ChannelBinding::NotSupportedClient => "n,,".to_string(),
            ChannelBinding::NotSupportedServer => "y,,".to_string(),
            ChannelBinding::Required => format!("p={TLS_SERVER_END_POINT},,"),
        }
    }

    /// The `c=` attribute client-final must carry: base64 of the GS2 header
    /// followed, for `p`, by the end-point hash. `None` when binding is
    /// required but this connection has no binding data (the exchange
    /// refuses that case earlier).
    pub fn expected_c(self, data: Option<&ChannelBindingData>) -> Option<String> {
        let mut input = self.gs2_header().into_bytes();
        if self == ChannelBinding::Required {
            input.extend_from_slice(data?.end_point_hash());
        }
        Some(STANDARD.encode(input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_c_values() {
        // "biws" and "eSws" are the constants PostgreSQL compares against.
        assert_eq!(
            ChannelBinding::NotSupportedClient
                .expected_c(None)
                .as_deref(),
            Some("biws")
        );
        assert_eq!(
            ChannelBinding::NotSupportedServer
                .expected_c(None)
                .as_deref(),
            Some("eSws")
        );
        assert_eq!(ChannelBinding::Required.expected_c(None), None);
        let data = ChannelBindingData::tls_server_end_point(vec![1, 2, 3]);
        let c = ChannelBinding::Required.expected_c(Some(&data)).unwrap();
        let raw = STANDARD.decode(c).unwrap();
        assert_eq!(raw, b"p=tls-server-end-point,,\x01\x02\x03");
        assert_eq!(format!("{data:?}"), "ChannelBindingData(3 bytes)");
    }
}

//! Networking below the protocol: the plain/TLS stream, TLS configuration,
//! and the pre-startup negotiation (SSLRequest, GSSENCRequest, direct TLS).

pub mod negotiate;
pub mod stream;
pub mod tls;

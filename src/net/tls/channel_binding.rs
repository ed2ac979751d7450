//! The `tls-server-end-point` channel-binding value (RFC 5929 section 4.1)
//! that SCRAM-SHA-256-PLUS checks: a hash of the server's end-entity
//! certificate, with the hash function its signature algorithm names (MD5
//! and SHA-1 are upgraded to SHA-256).
//!
//! Only the `signatureAlgorithm` OID is needed, so this is a minimal,
//! bounds-checked DER walk rather than a full X.509 parser: the certificate
//! has already been parsed by webpki when it was loaded, and any input that
//! does not look like `SEQUENCE { SEQUENCE, SEQUENCE { OID, .. }, .. }` simply
//! yields `None` (no channel binding), never a panic.

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;

/// The hash a certificate's signature algorithm binds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndPointHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl EndPointHash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            EndPointHash::Sha224 => Sha224::digest(data).to_vec(),
            EndPointHash::Sha256 => Sha256::digest(data).to_vec(),
            EndPointHash::Sha384 => Sha384::digest(data).to_vec(),
            EndPointHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// `tls-server-end-point` data for the end-entity certificate `cert_der`, or
/// `None` when its signature algorithm names no single usable hash (Ed25519,
/// Ed448, RSASSA-PSS, anything unknown) or the DER is not a certificate.
/// With `None` the server must not offer SCRAM-SHA-256-PLUS.
///
/// RSASSA-PSS is left out on purpose: its hash hides in the algorithm
/// parameters, and libpq (which looks the hash up by signature NID) fails
/// to compute the binding for such certificates, so offering PLUS would
/// only break clients that use `channel_binding=prefer`.
pub fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let hash = end_point_hash(cert_der)?;
    Some(hash.digest(cert_der))
}

/// The hash `tls_server_end_point` uses for `cert_der`, if any.
pub fn end_point_hash(cert_der: &[u8]) -> Option<EndPointHash> {
    let oid = signature_algorithm_oid(cert_der)?;
    hash_for_signature_oid(&dotted_oid(oid)?)
}

fn hash_for_signature_oid(oid: &str) -> Option<EndPointHash> {
    use EndPointHash::*;
    Some(match oid {
        // md5WithRSAEncryption, sha1WithRSAEncryption, sha1WithRSASignature
        // (OIW), ecdsa-with-SHA1, dsa-with-sha1: RFC 5929 upgrades to SHA-256.
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.3.14.3.2.29"
        | "1.2.840.10045.4.1"
        | "1.2.840.10040.4.3" => Sha256,
        // sha224WithRSAEncryption, ecdsa-with-SHA224, dsa-with-sha224
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" | "2.16.840.1.101.3.4.3.1" => Sha224,
        // sha256WithRSAEncryption, ecdsa-with-SHA256, dsa-with-sha256
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" | "2.16.840.1.101.3.4.3.2" => Sha256,
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Sha384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Sha512,
        // RSASSA-PSS (1.2.840.113549.1.1.10), Ed25519 (1.3.101.112),
        // Ed448 (1.3.101.113), MD2 and everything else.
        _ => return None,
    })
}

/// The content octets of `Certificate.signatureAlgorithm.algorithm`:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm
/// SEQUENCE { algorithm OID, parameters ANY OPTIONAL }, signatureValue }`.
fn signature_algorithm_oid(der: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = read_tlv(der, TAG_SEQUENCE)?;
    let (_tbs, rest) = read_tlv(certificate, TAG_SEQUENCE)?;
    let (algorithm_identifier, _) = read_tlv(rest, TAG_SEQUENCE)?;
    let (oid, _) = read_tlv(algorithm_identifier, TAG_OID)?;
    Some(oid)
}

/// Reads one DER element with the expected tag at the start of `input`;
/// returns its contents and what follows it.
fn read_tlv(input: &[u8], expected_tag: u8) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag != expected_tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form. 0x80 (indefinite) is BER only; more than four length
        // octets would describe a certificate bigger than any file we load.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (octets, after) = rest.split_at_checked(count)?;
        rest = after;
        octets
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    rest.split_at_checked(len)
}

/// Decodes OID content octets to dotted form ("1.2.840.10045.4.3.2").
fn dotted_oid(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in content {
        // A leading 0x80 is a non-minimal encoding, invalid in DER.
        if !in_arc && b == 0x80 {
            return None;
        }
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return None;
    }
    // The first subidentifier packs the first two arcs as 40 * X + Y.
    let first = arcs[0];
    let (x, y) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut dotted = format!("{x}.{y}");
    for arc in &arcs[1..] {
        dotted.push('.');
        dotted.push_str(&arc.to_string());
    }
    Some(dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate-shaped DER value: SEQUENCE { SEQUENCE {}, SEQUENCE { OID } }.
    fn fake_cert(oid: &[u8]) -> Vec<u8> {
        let mut alg = vec![TAG_OID, oid.len() as u8];
        alg.extend_from_slice(oid);
        let mut body = vec![TAG_SEQUENCE, 0, TAG_SEQUENCE, alg.len() as u8];
        body.extend_from_slice(&alg);
        let mut cert = vec![TAG_SEQUENCE, body.len() as u8];
        cert.extend_from_slice(&body);
        cert
    }

    #[test]
    fn oids_decode_to_dotted_form() {
        // ecdsa-with-SHA256 and sha256WithRSAEncryption as they appear in DER.
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]).as_deref(),
            Some("1.2.840.10045.4.3.2")
        );
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]).as_deref(),
            Some("1.2.840.113549.1.1.11")
        );
        assert_eq!(
            dotted_oid(&[0x2b, 0x65, 0x70]).as_deref(),
            Some("1.3.101.112")
        );
        assert_eq!(
            dotted_oid(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02]).as_deref(),
            Some("2.16.840.1.101.3.4.3.2")
        );
        // Truncated arc, non-minimal arc, empty, overflowing arc.
        assert_eq!(dotted_oid(&[0x2a, 0x86]), None);
        assert_eq!(dotted_oid(&[0x2a, 0x80, 0x01]), None);
        assert_eq!(dotted_oid(&[]), None);
        assert_eq!(
            dotted_oid(&[
                0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ]),
            None
        );
    }

    #[test]
    fn signature_algorithms_map_to_rfc5929_hashes() {
        let md5_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
        let sha1_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
        let sha512_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
        let pss = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
        let ecdsa_sha1 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
        let ecdsa_sha384 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let ed25519 = [0x2b, 0x65, 0x70];
        let unknown = [0x2a, 0x03];
        let cases: [(&[u8], Option<EndPointHash>); 8] = [
            (&md5_rsa, Some(EndPointHash::Sha256)),
            (&sha1_rsa, Some(EndPointHash::Sha256)),
            (&sha512_rsa, Some(EndPointHash::Sha512)),
            (&pss, None),
            (&ecdsa_sha1, Some(EndPointHash::Sha256)),
            (&ecdsa_sha384, Some(EndPointHash::Sha384)),
            (&ed25519, None),
            (&unknown, None),
        ];
        for (oid, expected) in cases {
            let cert = fake_cert(oid);
            assert_eq!(end_point_hash(&cert), expected, "oid {oid:02x?}");
        }
        let sha512 = tls_server_end_point(&fake_cert(&sha512_rsa)).unwrap();
        assert_eq!(sha512, Sha512::digest(fake_cert(&sha512_rsa)).to_vec());
        assert_eq!(tls_server_end_point(&fake_cert(&ed25519)), None);
    }

    #[test]
    fn long_form_lengths_are_read_and_bounded() {
        let cert = fake_cert(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
        // Re-encode the outer length in long form (0x81 n).
        let mut long = vec![TAG_SEQUENCE, 0x81, cert[1]];
        long.extend_from_slice(&cert[2..]);
        assert_eq!(end_point_hash(&long), Some(EndPointHash::Sha256));
        // Indefinite length, five length octets, length past the end.
        assert_eq!(read_tlv(&[TAG_SEQUENCE, 0x80, 0, 0], TAG_SEQUENCE), None);
        assert_eq!(
            read_tlv(&[TAG_SEQUENCE, 0x85, 1, 1, 1, 1, 1], TAG_SEQUENCE),
            None
        );
        assert_eq!(
            read_tlv(&[TAG_SEQUENCE, 0x84, 0xff, 0xff, 0xff, 0xff], TAG_SEQUENCE),
            None
        );
        assert_eq!(read_tlv(&[TAG_SEQUENCE, 3, 1, 2], TAG_SEQUENCE), None);
        assert_eq!(read_tlv(&[TAG_OID, 0], TAG_SEQUENCE), None);
    }

    /// xorshift64*: deterministic, so a failing case can be replayed by seed.
    struct TestRng(u64);

    impl TestRng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn malformed_der_never_panics() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let valid = params.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(end_point_hash(&valid), Some(EndPointHash::Sha256));

        let mut rng = TestRng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut input = valid.clone();
            match rng.below(5) {
                0 => input.truncate(rng.below(valid.len())),
                1 => {
                    for _ in 0..=rng.below(8) {
                        let i = rng.below(input.len());
                        input[i] = rng.next() as u8;
                    }
                }
                2 => {
                    // Lengths are where bounds bugs hide: corrupt one of the
                    // first length octets specifically.
                    let i = 1 + rng.below(12);
                    input[i] = rng.next() as u8;
                }
                3 => {
                    let i = rng.below(input.len());
                    input.insert(i, rng.next() as u8);
                }
                _ => {
                    let len = rng.below(64);
                    input = (0..len).map(|_| rng.next() as u8).collect();
                }
            }
            // The result may be anything; only a panic fails the test.
            let _ = tls_server_end_point(&input);
        }
    }
}

//! What the webhook-core fuzz targets share: the input framing ([`frame`]), a header map
//! over borrowed bytes ([`RawHeaders`]), the fixed keys and verifiers every target draws
//! from ([`configs`]), and the reference checks the targets assert ([`oracle`]).
//!
//! The seed generator (`examples/seeds.rs`) uses the same pieces, so a seed is always in the
//! framing its target reads.

#![forbid(unsafe_code)]
// A failed unwrap in a harness is a finding: the fuzzer reports it with the input.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod configs;
pub mod fixtures;
pub mod frame;
pub mod oracle;

use webhook_core::Headers;

/// Request headers as `(name, value)` byte pairs borrowed from the fuzz input. Names need
/// not be UTF-8: they are compared ASCII case-insensitively, byte for byte, as the core's
/// own implementations do.
#[derive(Debug, Default, Clone)]
pub struct RawHeaders<'a>(pub Vec<(&'a [u8], &'a [u8])>);

impl Headers for RawHeaders<'_> {
    fn for_each_value<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8])) {
        for &(k, v) in &self.0 {
            if k.eq_ignore_ascii_case(name.as_bytes()) {
                f(v);
            }
        }
    }
}

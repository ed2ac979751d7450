//! Cross-type tests of the public API.

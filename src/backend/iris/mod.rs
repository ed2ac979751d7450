//! The IRIS backend: a native client of the SuperServer protocol.

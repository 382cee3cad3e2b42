//! exocap capabilities (being written).
#![no_std]
#![forbid(unsafe_code)]

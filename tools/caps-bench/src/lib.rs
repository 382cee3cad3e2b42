//! Host micro-benchmarks of the capability space: `benches/caps.rs`, run by
//! `make bench` (`cargo bench -p caps-bench`). They live here rather than in
//! `caps` so that `caps`'s tests (`make host-test`) do not build criterion
//! and its dependencies (about 30 s of a cold `make test`).
#![forbid(unsafe_code)]

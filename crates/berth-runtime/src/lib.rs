//! The bootstrap every Berth binary shares, so all of them log the same JSON, stop on
//! the same signals and answer health checks the same way.

//! A dedup store on Redis.

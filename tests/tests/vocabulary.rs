//! Every adapter names the core's items the same way: a user who moves a route from one
//! framework to another changes the crate name in the `use` line and nothing else.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

macro_rules! same_vocabulary {
    ($($adapter:ident),*) => {$(
        mod $adapter {
            use $adapter::{providers, Endpoint, Outcome, Provider, Verified, Verifier};

            #[test]
            fn re_exports_the_core_vocabulary() {
                let p: Provider = providers::GITHUB;
                let endpoint: Endpoint = Endpoint::new(Verifier::new(p, "s").unwrap());
                let _: fn(&Outcome) -> Option<&Verified> = Outcome::delivery;
                assert_eq!(endpoint.verifier().provider().name(), "github");
            }
        }
    )*};
}

same_vocabulary!(webhook_axum, webhook_actix, webhook_tower);

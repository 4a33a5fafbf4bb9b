//! `arrivals::args::ServerArgs` against the server's own clap parser: every field the
//! orchestrator sets comes back as the server reads it.

use std::ffi::OsString;
use std::path::PathBuf;

use arrivals::Mode;
use arrivals::args::ServerArgs;
use clap::Parser;
use server::{DEFAULT_MAX_CONNECTIONS, Options};

fn parse(args: &ServerArgs) -> Options {
    let argv = std::iter::once(OsString::from("server")).chain(args.to_args());
    Options::try_parse_from(argv).expect("the server accepts the built arguments")
}

#[test]
fn every_field_round_trips_through_the_server_parser() {
    for mode in Mode::ALL {
        let args = ServerArgs {
            address: "::1".to_owned(),
            port: 40_123,
            mode,
            events: Some(PathBuf::from("results/x y/server-events.jsonl")),
            verbose: true,
            max_connections: Some(7),
            idle_timeout: Some(0.25),
        };
        let o = parse(&args);
        assert_eq!(o.address, args.address);
        assert_eq!(o.port, args.port);
        assert_eq!(o.concurrency_mode, mode);
        assert_eq!(o.events, args.events);
        assert!(o.verbose);
        assert_eq!(o.max_connections, 7);
        assert_eq!(o.idle_timeout, args.idle_timeout);
    }
}

#[test]
fn unset_options_leave_the_server_defaults() {
    let o = parse(&ServerArgs {
        address: "127.0.0.1".to_owned(),
        port: 0,
        mode: Mode::Iter,
        events: None,
        verbose: false,
        max_connections: None,
        idle_timeout: None,
    });
    assert_eq!(o.events, None);
    assert!(!o.verbose);
    assert_eq!(o.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(o.idle_timeout, None);
}

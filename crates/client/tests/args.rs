//! `arrivals::args::ClientArgs` against the client's own clap parser: every field the
//! orchestrator sets comes back as the client reads it.

use std::ffi::OsString;
use std::path::PathBuf;

use arrivals::DistKind;
use arrivals::args::ClientArgs;
use clap::Parser;
use client::Cli;

fn parse(args: &ClientArgs) -> Cli {
    let argv = std::iter::once(OsString::from("client")).chain(args.to_args());
    Cli::try_parse_from(argv).expect("the client accepts the built arguments")
}

fn kind(name: &str) -> DistKind {
    name.parse().expect("a distribution name")
}

#[test]
fn every_field_round_trips_through_the_client_parser() {
    let args = ClientArgs {
        workers: 3,
        intervals: 5,
        dist: DistKind::Pareto,
        param: 0.1 + 0.2,
        shape: Some(1.5),
        connect: Some((DistKind::LogNormal, 1.0 / 3.0)),
        server: "127.0.0.1".to_owned(),
        port: 9,
        seed: Some(u64::MAX),
        events: Some(PathBuf::from("results/s/client-a.events.part.jsonl")),
        verbose: true,
        spin_us: 250,
        connect_timeout: Some(2.5),
        io_timeout: Some(0.1 + 0.2),
    };
    let cli = parse(&args);
    assert_eq!(cli.workers, args.workers);
    assert_eq!(cli.intervals, args.intervals);
    assert_eq!(kind(&cli.dist), args.dist);
    // Bit-exact: the text is the shortest that parses back to the same f64.
    assert_eq!(cli.param.to_bits(), args.param.to_bits());
    assert_eq!(cli.shape, args.shape);
    let connect = cli.connect_dist.as_deref().map(kind).zip(cli.connect_param);
    assert_eq!(connect, args.connect);
    assert_eq!(cli.server, args.server);
    assert_eq!(cli.port, args.port);
    assert_eq!(cli.seed, args.seed);
    assert_eq!(cli.events, args.events);
    assert!(cli.verbose);
    assert_eq!(cli.spin_us, args.spin_us);
    assert_eq!(Some(cli.connect_timeout), args.connect_timeout);
    assert_eq!(
        Some(cli.io_timeout.to_bits()),
        args.io_timeout.map(f64::to_bits)
    );
}

#[test]
fn unset_options_leave_the_client_defaults() {
    let cli = parse(&ClientArgs {
        workers: 1,
        intervals: 1,
        dist: DistKind::Deterministic,
        param: 0.5,
        shape: None,
        connect: None,
        server: "localhost".to_owned(),
        port: 55_000,
        seed: None,
        events: None,
        verbose: false,
        spin_us: 0,
        connect_timeout: None,
        io_timeout: None,
    });
    assert_eq!((cli.shape, cli.seed, cli.events), (None, None, None));
    assert_eq!((cli.connect_dist, cli.connect_param), (None, None));
    assert!(!cli.verbose);
    assert_eq!(cli.spin_us, 0);
    assert_eq!((cli.connect_timeout, cli.io_timeout), (10.0, 120.0));
}

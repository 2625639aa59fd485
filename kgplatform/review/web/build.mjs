#!/usr/bin/env node
// Bundle the review page's script (src/review.js + cytoscape) into static/review.js with esbuild: no CDN, the
// page serves everything itself. The bundle is committed so the page works without Node.
//
//   node build.mjs           rebuild static/review.js
//   node build.mjs --check   exit 1 when static/review.js differs from a fresh build (CI runs this)
//
// Install first: npm ci --prefix kgplatform/review/web
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(HERE, 'static', 'review.js');

const result = await build({
  entryPoints: [path.join(HERE, 'src', 'review.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'eof', // cytoscape's MIT notice stays in the bundle
  charset: 'utf8',
  write: false,
  logLevel: 'warning',
});
const fresh = result.outputFiles[0].text;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(OUT, 'utf8');
  } catch {
    // missing: reported below
  }
  if (committed !== fresh) {
    console.error(`${OUT} is out of date with src/: run \`npm run build --prefix kgplatform/review/web\` and commit it`);
    process.exit(1);
  }
  console.log(`${path.relative(process.cwd(), OUT)} is up to date (${fresh.length} bytes)`);
} else {
  writeFileSync(OUT, fresh);
  console.log(`wrote ${path.relative(process.cwd(), OUT)} (${fresh.length} bytes)`);
}

#!/usr/bin/env node
// Lint every *.cypher file under the given paths with Neo4j's own Cypher linter
// (npm @neo4j-cypher/language-support, pinned in package.json).
//
// Usage: node tools/cypher-lint/lint.mjs [options] [PATH ...]
//   PATH                  .cypher file or directory (searched recursively); default: ../../cypher
//                         relative to this script, i.e. the repository's cypher/ directory
//   --schema FILE.json    extra DbSchema keys merged into the default schema (labels,
//                         relationshipTypes, propertyKeys, parameters, functions, procedures)
//   --no-auto-params      do not declare the $parameters a file uses; every parameter not given
//                         with --params (or in --schema) is then an error
//   --params a,b,c        declare these parameter names
//   --console-commands    allow Neo4j Browser console commands (:param, :play, ...); off by default
//                         because the files are run through the driver, which rejects them
//   --allow-plugins       also declare the APOC and GDS procedures/functions (not in Neo4j 5
//                         Community; the platform does not use them)
//   --json                print one JSON object instead of text lines
//
// Output: `path:line:col: severity: message` per diagnostic (1-based line and column), then
// `cypher-lint: N files, E errors, W warnings`. Exit 1 if any error, 2 on usage or I/O problems,
// 0 otherwise (warnings do not fail).
//
// Template convention: dynamic labels/relationship types are written as the plain identifiers
// __LABEL__, __REL_TYPE__, __LABEL2__, ... and linted as they are. They are added to the declared
// labels/relationship types when a --schema declares those, so they never produce
// "not present in the database" warnings. __DIM__ (an integer the platform validates and splices in, e.g. a
// vector index's dimension) is linted as the literal 1.
//
// Dialect: a file with the comment line `// dialect: falkordb` (cypher/vector/falkordb/*.cypher) is FalkorDB
// Cypher. It is parsed by the same Neo4j linter with FalkorDB's own procedures and functions declared as well
// (dialects/falkordb.json), and the diagnostics that file lists as FalkorDB dialect (its vector index DDL) are
// printed as `info` with the reason, not counted as errors. The FalkorDB integration tests run these files.

import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  lintCypherQuery,
  parseParameters,
  testData,
} from '@neo4j-cypher/language-support';

const SCRIPT_DIR = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_ROOT = path.resolve(SCRIPT_DIR, '..', '..', 'cypher');
const CYPHER_VERSION = 'CYPHER 5';
const PLUGIN_PREFIX = /^(apoc|gds)\./;
const TEMPLATE_IDENT = /\b__[A-Z][A-Z0-9_]*__\b/g;
const TEMPLATE_INT = /\b__DIM__\b/g;
const DIALECT_LINE = /^\s*\/\/\s*dialect:\s*falkordb\s*$/m;
const DIALECT_FILE = path.join(SCRIPT_DIR, 'dialects', 'falkordb.json');
const SEVERITY = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' };

function usage(message) {
  if (message) process.stderr.write(`cypher-lint: ${message}\n`);
  process.stderr.write(
    'usage: node lint.mjs [--schema FILE.json] [--no-auto-params] [--params a,b] ' +
      '[--console-commands] [--allow-plugins] [--json] [PATH ...]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    paths: [],
    schemaFile: null,
    autoParams: true,
    params: [],
    consoleCommands: false,
    allowPlugins: false,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--schema') opts.schemaFile = value();
    else if (arg === '--no-auto-params') opts.autoParams = false;
    else if (arg === '--params')
      opts.params.push(...value().split(',').map((s) => s.trim().replace(/^\$/, '')).filter(Boolean));
    else if (arg === '--console-commands') opts.consoleCommands = true;
    else if (arg === '--allow-plugins') opts.allowPlugins = true;
    else if (arg === '--json') opts.json = true;
    else if (arg === '-h' || arg === '--help') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
      process.stdout.write(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else opts.paths.push(arg);
  }
  if (opts.paths.length === 0) opts.paths.push(DEFAULT_ROOT);
  return opts;
}

// Neo4j 5's procedures and functions. The package ships no standalone "default" list; the only
// one it exports is testData.mockSchema, a dump of a real server's SHOW FUNCTIONS / SHOW
// PROCEDURES keyed by Cypher version. Take the CYPHER 5 entries and drop the plugin ones
// (APOC, GDS), which Neo4j 5 Community does not have.
function neo4jRoutines(allowPlugins) {
  const mock = testData?.mockSchema ?? {};
  const keep = (name) => allowPlugins || !PLUGIN_PREFIX.test(name);
  const functions = Object.fromEntries(
    Object.entries(mock.functions?.[CYPHER_VERSION] ?? {}).filter(([name]) => keep(name)),
  );
  const procedures = Object.fromEntries(
    Object.entries(mock.procedures?.[CYPHER_VERSION] ?? {}).filter(([name]) => keep(name)),
  );
  if (Object.keys(functions).length === 0 || Object.keys(procedures).length === 0) {
    process.stderr.write(
      'cypher-lint: the installed @neo4j-cypher/language-support ships no function/procedure list; ' +
        'unknown functions and procedures will not be reported\n',
    );
    return {};
  }
  return {
    functions: { [CYPHER_VERSION]: functions },
    procedures: { [CYPHER_VERSION]: procedures },
  };
}

function loadExtraSchema(file) {
  if (!file) return {};
  try {
    const extra = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
      usage(`${file}: expected a JSON object with DbSchema keys`);
    }
    return extra;
  } catch (err) {
    usage(`${file}: ${err.message}`);
  }
}

// FalkorDB's routines and its expected diagnostics, for the files marked `// dialect: falkordb`.
function loadDialect() {
  const dialect = JSON.parse(readFileSync(DIALECT_FILE, 'utf8'));
  const byName = (list) => Object.fromEntries(list.map((r) => [r.name, r]));
  return {
    functions: byName(dialect.functions ?? []),
    procedures: byName(dialect.procedures ?? []),
    expected: dialect.expected ?? [],
  };
}

function withDialect(base, dialect) {
  if (!base.functions || !base.procedures) return base; // no routine list at all: nothing is reported unknown
  const merged = (kind) => ({
    [CYPHER_VERSION]: { ...(base[kind]?.[CYPHER_VERSION] ?? {}), ...dialect[kind] },
  });
  return { ...base, functions: merged('functions'), procedures: merged('procedures') };
}

function collectFiles(target, out) {
  let st;
  try {
    st = statSync(target);
  } catch {
    return false;
  }
  if (st.isFile()) {
    out.push(target);
    return true;
  }
  if (st.isDirectory()) {
    const entries = readdirSync(target, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const child = path.join(target, entry.name);
      if (entry.isDirectory()) collectFiles(child, out);
      else if (entry.isFile() && entry.name.endsWith('.cypher')) out.push(child);
    }
    return true;
  }
  return false;
}

function displayPath(file) {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function schemaForFile(text, base, extra, opts) {
  const parameters = {};
  for (const name of opts.params) parameters[name] = null;
  if (opts.autoParams) {
    for (const name of parseParameters(text, opts.consoleCommands)) parameters[name] = null;
  }
  Object.assign(parameters, extra.parameters ?? {});
  const schema = { ...base, ...extra, parameters, defaultLanguage: CYPHER_VERSION };
  if (extra.functions) schema.functions = extra.functions;
  if (extra.procedures) schema.procedures = extra.procedures;
  // Label warnings only happen when both lists are declared: keep template names out of them.
  if (schema.labels && schema.relationshipTypes) {
    const templates = [...new Set(text.match(TEMPLATE_IDENT) ?? [])];
    schema.labels = [...schema.labels, ...templates];
    schema.relationshipTypes = [...schema.relationshipTypes, ...templates];
  }
  return schema;
}

function lintFile(file, base, extra, opts, dialect) {
  const shown = displayPath(file);
  let text;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    return [{ path: shown, line: 1, col: 1, severity: 'error', message: `cannot read file: ${err.message}` }];
  }
  text = text.replace(TEMPLATE_INT, (m) => '1'.padEnd(m.length)); // same length: columns stay right
  const falkordb = dialect !== null && DIALECT_LINE.test(text);
  try {
    const schema = schemaForFile(text, falkordb ? withDialect(base, dialect) : base, extra, opts);
    const { diagnostics } = lintCypherQuery(text, schema, { consoleCommandsEnabled: opts.consoleCommands });
    return diagnostics.map((d) => {
      const message = String(d.message).replace(/\s*\n\s*/g, ' ');
      const known = falkordb ? dialect.expected.find((e) => message.startsWith(e.message)) : undefined;
      return {
        path: shown,
        line: d.range.start.line + 1,
        col: d.range.start.character + 1,
        severity: known ? 'info' : (SEVERITY[d.severity] ?? 'error'),
        message: known ? `FalkorDB dialect (${known.reason}): ${message}` : message,
      };
    });
  } catch (err) {
    return [{ path: shown, line: 1, col: 1, severity: 'error', message: `linter crashed: ${err?.stack ?? err}` }];
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const extra = loadExtraSchema(opts.schemaFile);
  const base = neo4jRoutines(opts.allowPlugins);
  const dialect = existsSync(DIALECT_FILE) ? loadDialect() : null;

  const files = [];
  for (const target of opts.paths) {
    if (!existsSync(target) || !collectFiles(target, files)) {
      usage(`${target}: no such file or directory`);
    }
  }

  const all = [];
  for (const file of files) all.push(...lintFile(file, base, extra, opts, dialect));
  const errors = all.filter((d) => d.severity === 'error').length;
  const warnings = all.filter((d) => d.severity === 'warning').length;
  const summary = `cypher-lint: ${files.length} files, ${errors} errors, ${warnings} warnings`;

  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ files: files.map(displayPath), errors, warnings, diagnostics: all }, null, 2) + '\n',
    );
  } else {
    for (const d of all) process.stdout.write(`${d.path}:${d.line}:${d.col}: ${d.severity}: ${d.message}\n`);
    process.stdout.write(summary + '\n');
  }
  process.exitCode = errors > 0 ? 1 : 0;
}

main();

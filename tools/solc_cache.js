// A disk cache of solcjs compilations, shared by the `solc` shim (py-solc-x, Brownie, forge, Slither, the test
// suite) and tools/sourcify_check.mjs.
//
// Why: the same Meter sources are compiled with viaIR through WebAssembly by several tests and tools (the artifact
// check, Slither, Sourcify's recompile, the packing harness, Brownie), each costing tens of seconds of CPU, on every
// test run. The compiler is deterministic: its output is a function of its version and its standard-JSON input. So
// the output is kept under out/solc-cache/ (ignored by git), keyed by the SHA-256 of both, and only when the
// compilation read nothing through the import callback (every source was inline in the input): then the key covers
// everything the output depends on. METERING_SOLC_CACHE=off compiles every time; METERING_SOLC_CACHE=DIR moves it.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const MAX_ENTRIES = 64; // about 2 MB each: the oldest go first

function cacheDir(projectRoot) {
  const setting = process.env.METERING_SOLC_CACHE;
  if (setting === 'off') return null;
  return setting || path.join(projectRoot, 'out', 'solc-cache');
}

function keyOf(version, input) {
  return crypto.createHash('sha256').update(version).update('\0').update(input).digest('hex');
}

function prune(dir) {
  const entries = fs.readdirSync(dir).filter((name) => name.endsWith('.json'))
    .map((name) => ({ name, mtime: fs.statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of entries.slice(MAX_ENTRIES)) fs.rmSync(path.join(dir, name), { force: true });
}

// compileCached(projectRoot, version, input, compile): the compiler's output text for `input` (a string).
// `compile(input, onImport)` runs the compiler; it must call onImport() whenever its import callback is used.
function compileCached(projectRoot, version, input, compile) {
  const dir = cacheDir(projectRoot);
  const file = dir && path.join(dir, `${keyOf(version, input)}.json`);
  if (file) {
    try {
      const hit = fs.readFileSync(file, 'utf8');
      const now = new Date();
      fs.utimesSync(file, now, now); // recently used: kept by prune()
      return hit;
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  let imported = false;
  const output = compile(input, () => { imported = true; });
  if (file && !imported) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      // written whole, then renamed: a reader (another test worker) never sees half a file
      const partial = `${file}.${process.pid}.partial`;
      fs.writeFileSync(partial, output);
      fs.renameSync(partial, file);
      prune(dir);
    } catch (err) {
      process.stderr.write(`solc cache: not kept (${err.message})\n`);
    }
  }
  return output;
}

module.exports = { compileCached };

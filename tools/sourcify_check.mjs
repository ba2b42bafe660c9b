#!/usr/bin/env node
// Verify a `metering deploy` deployment with Sourcify's own library, offline.
//
//   node tools/sourcify_check.mjs --rpc-url http://127.0.0.1:8545 DEPLOYMENT.json [[--rpc-url URL] DEPLOYMENT.json...]
//
// DEPLOYMENT.json is the deployment file `metering deploy` writes (each file is read from the node named by the
// --rpc-url before it, default ETH_RPC_URL); its `.sourcify` folder beside it holds
// metadata.json and sources/. This does what sourcify.dev does with an upload of that folder:
// @ethereum-sourcify/lib-sourcify (pinned in package.json) reads the files the way the Sourcify server does,
// recompiles with the solc version the metadata names, fetches the code and the creation transaction from the node,
// and compares both. The compiler is the project's pinned solcjs (node_modules/solc), wrapped in lib-sourcify's
// ISolidityCompiler interface, so nothing is downloaded.
//
// Prints one JSON line {runtimeMatch, creationMatch, address, chainId, deployment} per deployment and exits 0 only
// when every match is "perfect" (Sourcify's "exact_match"); 1 otherwise; 2 on bad usage. One process checks many
// deployments so that equal compiler inputs compile once.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import {
  createMetadataContractsFromFiles,
  setLibSourcifyLoggerLevel,
  SourcifyChain,
  Verification,
} from '@ethereum-sourcify/lib-sourcify';

const require = createRequire(import.meta.url);
const { compileCached } = require('./solc_cache.js');

// lib-sourcify's ISolidityCompiler over the pinned solcjs. It refuses any other version rather than fetch one.
class OfflineSolc {
  constructor() {
    const solc = require('solc');
    // soljson installs an uncaughtException handler of its own; keep node's.
    process.removeAllListeners('uncaughtException');
    this.solc = solc;
    this.version = solc.version().replace(/\.Emscripten\.clang$/, '');
    this.outputs = new Map(); // compiler input text -> output text: solcjs is deterministic
  }

  async compile(version, solcJsonInput) {
    if (version.replace(/^v/, '') !== this.version) {
      throw new Error(`solc ${version} requested, but only the pinned ${this.version} is available offline`);
    }
    const input = JSON.stringify(solcJsonInput);
    if (!this.outputs.has(input)) {
      // lib-sourcify gives every source inline, so the disk cache (tools/solc_cache.js) may keep the output
      const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
      this.outputs.set(input, compileCached(root, `solcjs ${this.version}`, input,
        (text, onImport) => this.solc.compile(text, { import: (p) => { onImport(); return { error: `no file ${p}` }; } })));
    }
    const output = JSON.parse(this.outputs.get(input));
    const errors = (output.errors || []).filter((e) => e.severity === 'error');
    if (errors.length > 0) {
      const error = new Error(errors.map((e) => e.formattedMessage || e.message).join('\n'));
      error.errors = errors; // lib-sourcify reads the compiler errors from here
      throw error;
    }
    return output;
  }
}

function usage(message) {
  process.stderr.write(`sourcify_check: ${message}\nusage: node tools/sourcify_check.mjs [--rpc-url URL] DEPLOYMENT.json...\n`);
  process.exit(2);
}

// [{rpcUrl, deployment}]: each deployment file with the --rpc-url given before it.
function parseArgs(argv) {
  let rpcUrl = process.env.ETH_RPC_URL || null;
  const checks = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--rpc-url') rpcUrl = argv[++i];
    else if (argv[i].startsWith('--rpc-url=')) rpcUrl = argv[i].slice('--rpc-url='.length);
    else if (argv[i].startsWith('-')) usage(`unknown option ${argv[i]}`);
    else if (!rpcUrl) usage(`no --rpc-url (or ETH_RPC_URL) for ${argv[i]}`);
    else checks.push({ rpcUrl, deployment: argv[i] });
  }
  if (checks.length === 0) usage('no deployment file');
  return checks;
}

function filesUnder(folder) {
  return fs.readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

async function check(solc, { rpcUrl, deployment: file }) {
  const deployment = JSON.parse(fs.readFileSync(file, 'utf8'));
  const folder = file.replace(/\.json$/, '.sourcify');
  // What a user uploads to Sourcify: metadata.json and the sources (not the standard-JSON input).
  const uploads = [path.join(folder, 'metadata.json'), ...filesUnder(path.join(folder, 'sources'))]
    .map((name) => ({ path: path.relative(folder, name), buffer: fs.readFileSync(name) }));
  const [contract, ...others] = await createMetadataContractsFromFiles(uploads);
  if (!contract || others.length > 0) throw new Error(`expected one metadata.json in ${folder}`);
  if (!contract.isCompilable()) {
    const problems = { missing: contract.missingSources, invalid: contract.invalidSources };
    throw new Error(`sources missing or altered in ${folder}: ${JSON.stringify(problems)}`);
  }
  const compilation = await contract.createCompilation(solc);
  const chain = new SourcifyChain({
    name: 'metering check',
    chainId: deployment.chain_id,
    rpcs: [{ rpc: rpcUrl, maskedUrl: rpcUrl }],
    supported: true,
  });
  const verification = new Verification(compilation, chain, deployment.address, deployment.tx_hash);
  await verification.verify();
  const { runtimeMatch, creationMatch } = verification.status;
  return { runtimeMatch, creationMatch, address: deployment.address, chainId: deployment.chain_id, deployment: file };
}

async function main() {
  const checks = parseArgs(process.argv.slice(2));
  setLibSourcifyLoggerLevel(Number(process.env.SOURCIFY_CHECK_LOG_LEVEL || 0));
  const solc = new OfflineSolc();
  let allPerfect = true;
  for (const one of checks) {
    const result = await check(solc, one);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    allPerfect &&= result.runtimeMatch === 'perfect' && result.creationMatch === 'perfect';
  }
  process.exit(allPerfect ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`sourcify_check: ${error.code ? `${error.code}: ` : ''}${error.message}\n`);
  if (process.env.SOURCIFY_CHECK_DEBUG) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});

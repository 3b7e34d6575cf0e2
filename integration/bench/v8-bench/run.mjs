// Runs the v8-bench module (wasm32-wasip1) under Node's WASI, in Node's V8: the same engine
// family Envoy runs the filter in (envoy.wasm.runtime.v8), though not the same V8 version.
// Usage: node run.mjs path/to/v8-bench.wasm [--quick]   (prints the module's JSON on stdout)
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, ...args] = process.argv.slice(2);
if (!wasmPath) {
  console.error('usage: node run.mjs MODULE.wasm [--quick]');
  process.exit(2);
}
const wasi = new WASI({ version: 'preview1', args: ['v8-bench', ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const code = wasi.start(instance);
process.exitCode = code;

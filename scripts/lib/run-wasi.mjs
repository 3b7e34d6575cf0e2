// Runs a wasm32-wasip1 program (here: a libtest binary from `cargo test --target wasm32-wasip1
// --no-run`) inside V8, the engine Envoy runs the filter in, through Node's WASI
// (node:wasi, preview1). The host file system is seen at / (the tests read their fixtures by
// absolute path, from CARGO_MANIFEST_DIR). Exits with the program's exit code.
//   node scripts/lib/run-wasi.mjs FILE.wasm [ARGS...]
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, env, exit } from "node:process";

const [file, ...args] = argv.slice(2);
if (!file) {
  console.error("usage: node run-wasi.mjs FILE.wasm [ARGS...]");
  exit(2);
}
const wasi = new WASI({
  version: "preview1",
  args: [file, ...args],
  env: { RUST_BACKTRACE: env.RUST_BACKTRACE ?? "0", RUST_TEST_THREADS: "1" },
  preopens: { "/": "/" },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
let code;
try {
  code = wasi.start(instance);
} catch (e) {
  // A trap (a panic is an abort in wasm32-wasip1: `unreachable`) ends the program here.
  console.error(`run-wasi: ${file}: ${e}`);
  code = 101;
}
exit(code ?? 0);

#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) for Slim: many input sets in one process, or a latency
// measurement. Tensors travel in a small binary container (see readTensorFile / writeTensorFile):
//   "SLIMTNS1" | uint32 LE header length | JSON header {"runs":[[{"name","dtype","shape"}, ...], ...]}
//   | the raw little-endian data of every tensor, run by run, in header order.
'use strict';

const fs = require('fs');
const path = require('path');

const MAGIC = 'SLIMTNS1';
const TYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function fail(message) {
  process.stderr.write(`run.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const mode = argv[0];
  const opts = { threads: 1, warmup: 5, runs: 20 };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!key.startsWith('--') || value === undefined) fail(`expected --name value pairs, got '${key}'`);
    opts[key.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
  }
  for (const k of ['threads', 'warmup', 'runs']) {
    opts[k] = Number(opts[k]);
    if (!Number.isInteger(opts[k]) || opts[k] < (k === 'warmup' ? 0 : 1)) fail(`--${k} must be a positive integer`);
  }
  if (!opts.model) fail('--model is required');
  return { mode, opts };
}

function readTensorFile(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) fail(`${file}: not a Slim tensor file (magic ${MAGIC} missing)`);
  const headerLength = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', 12, 12 + headerLength));
  let offset = 12 + headerLength;
  return header.runs.map((run) => {
    const feeds = {};
    for (const t of run) {
      const Type = TYPES[t.dtype];
      if (!Type) fail(`${file}: tensor '${t.name}' has unknown dtype '${t.dtype}'`);
      const count = t.shape.reduce((a, b) => a * b, 1);
      const bytes = count * Type.BYTES_PER_ELEMENT;
      if (offset + bytes > buf.length) fail(`${file}: data of tensor '${t.name}' runs past the end of the file`);
      // Copy so the typed array is aligned whatever the header length was.
      const data = new Type(count);
      Buffer.from(data.buffer).set(buf.subarray(offset, offset + bytes));
      offset += bytes;
      feeds[t.name] = { dtype: t.dtype, shape: t.shape, data };
    }
    return feeds;
  });
}

function writeTensorFile(file, runs) {
  const header = { runs: runs.map((run) => Object.entries(run).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }))) };
  const headerBuf = Buffer.from(JSON.stringify(header), 'utf8');
  const parts = [Buffer.from(MAGIC, 'latin1'), Buffer.alloc(4), headerBuf];
  parts[1].writeUInt32LE(headerBuf.length, 0);
  for (const run of runs) {
    for (const t of Object.values(run)) parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat(parts));
  fs.renameSync(tmp, file);
}

function toOrt(ort, t) {
  return new ort.Tensor(t.dtype, t.dtype === 'bool' ? Uint8Array.from(t.data) : t.data, t.shape);
}

function fromOrt(t) {
  let data = t.data;
  if (t.type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  if (!TYPES[t.type]) fail(`output of type '${t.type}' cannot be written`);
  return { dtype: t.type, shape: Array.from(t.dims), data };
}

async function main() {
  const { mode, opts } = parseArgs(process.argv.slice(2));
  if (!['run', 'latency'].includes(mode)) fail(`unknown mode '${mode}': expected run or latency`);
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    fail(`onnxruntime-node is not installed in ${__dirname} (npm ci --ignore-scripts there): ${e.message}`);
  }
  if (!fs.existsSync(opts.model)) fail(`model not found: ${opts.model}`);
  const sessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: process.env.SLIM_ORT_OPT || 'all',
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  if (opts.optimizedModel) sessionOptions.optimizedModelFilePath = path.resolve(opts.optimizedModel);
  const session = await ort.InferenceSession.create(opts.model, sessionOptions);
  if (!opts.input) fail('--input is required');
  const runs = readTensorFile(opts.input);
  if (runs.length === 0) fail(`${opts.input}: holds no input sets`);
  const feedsOf = (run) => Object.fromEntries(Object.entries(run).map(([k, t]) => [k, toOrt(ort, t)]));

  if (mode === 'run') {
    if (!opts.output) fail('--output is required in run mode');
    const results = [];
    const started = process.hrtime.bigint();
    for (const run of runs) {
      const out = await session.run(feedsOf(run));
      const converted = {};
      for (const name of session.outputNames) converted[name] = fromOrt(out[name]);
      results.push(converted);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    writeTensorFile(opts.output, results);
    process.stdout.write(JSON.stringify({ runs: runs.length, total_ms: ms, outputs: session.outputNames }) + '\n');
    return;
  }

  const feeds = feedsOf(runs[0]);
  for (let i = 0; i < opts.warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < opts.runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const quantile = (q) => {
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  };
  process.stdout.write(JSON.stringify({
    threads: opts.threads,
    warmup: opts.warmup,
    runs: opts.runs,
    median_ms: quantile(0.5),
    mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
    p90_ms: quantile(0.9),
    min_ms: sorted[0],
    max_ms: sorted[sorted.length - 1],
  }) + '\n');
}

main().catch((e) => fail(e && e.message ? e.message.split('\n')[0] : String(e)));

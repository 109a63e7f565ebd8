#!/usr/bin/env node
// Runs garbage's ONNX exports in onnxruntime (CPU), the reference runtime for its tests and
// benchmarks. Inputs and outputs are raw little-endian float32 files, so no image decoding is
// needed here: garbage writes the preprocessed tensors.
//
//   node ort.js infer JOBS.json
//       JOBS.json: [{"model": "m.onnx", "input": "x.bin", "shape": [N,3,S,S], "output": "y.bin"}]
//       writes each job's first output (float32) to "output"; prints {"jobs": n}.
//   node ort.js bench MODEL.onnx [--batch 1,8,64] [--img S] [--threads N] [--warmup W]
//                                [--min-time SECONDS]
//       prints JSON: latency median/p90 (ms per batch) and images per second per batch size.
//   node ort.js score MODEL.onnx DIR
//       DIR from `garbage eval --save-tensors DIR`: prints accuracy on its labels, top-1
//       agreement with garbage's (libtorch) logits, and their max abs difference.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function fail(message) {
  process.stderr.write(`ort.js: ${message}\n`);
  process.exit(2);
}

function readFloat32(file, expected) {
  const buf = fs.readFileSync(file);
  if (buf.length !== expected * 4) fail(`${file}: ${buf.length} bytes, expected ${expected * 4}`);
  return new Float32Array(buf.buffer, buf.byteOffset, expected);
}

async function session(model, threads) {
  const options = {graphOptimizationLevel: 'all'};
  if (threads > 0) {
    options.intraOpNumThreads = threads;
    options.interOpNumThreads = 1;
  }
  return ort.InferenceSession.create(model, options);
}

async function infer(jobsFile) {
  const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  const sessions = new Map();
  for (const job of jobs) {
    if (!sessions.has(job.model)) sessions.set(job.model, await session(job.model, 0));
    const s = sessions.get(job.model);
    const count = job.shape.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', readFloat32(job.input, count), job.shape);
    const result = await s.run({[s.inputNames[0]]: input});
    const out = result[s.outputNames[0]];
    fs.writeFileSync(job.output, Buffer.from(out.data.buffer, out.data.byteOffset,
                                             out.data.byteLength));
  }
  console.log(JSON.stringify({jobs: jobs.length}));
}

async function score(model, dir) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'tensors.json'), 'utf8'));
  const [n, c, h, w] = meta.input_shape;
  const k = meta.logits_shape[1];
  const inputs = readFloat32(path.join(dir, meta.inputs), n * c * h * w);
  const reference = readFloat32(path.join(dir, meta.logits), n * k);
  const s = await session(model, 0);
  const argmax = (a, off) => {
    let best = 0;
    for (let j = 1; j < k; ++j) if (a[off + j] > a[off + best]) best = j;
    return best;
  };
  let correct = 0, agree = 0, maxDiff = 0;
  const chunk = 64;
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const data = inputs.subarray(start * c * h * w, (start + m) * c * h * w);
    const result = await s.run({[s.inputNames[0]]: new ort.Tensor('float32', data, [m, c, h, w])});
    const logits = result[s.outputNames[0]].data;
    for (let i = 0; i < m; ++i) {
      const row = start + i;
      const pred = argmax(logits, i * k);
      correct += pred === meta.labels[row];
      agree += pred === argmax(reference, row * k);
      for (let j = 0; j < k; ++j)
        maxDiff = Math.max(maxDiff, Math.abs(logits[i * k + j] - reference[row * k + j]));
    }
  }
  console.log(JSON.stringify({model: path.resolve(model), images: n, accuracy: correct / n,
                              top1_agreement_with_libtorch: agree / n,
                              max_abs_logit_diff: maxDiff}, null, 2));
}

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

async function bench(model, args) {
  const batches = option(args, '--batch', '1,8,64').split(',').map(Number);
  const threads = Number(option(args, '--threads', '0'));
  const warmup = Number(option(args, '--warmup', '3'));
  const minTime = Number(option(args, '--min-time', '3'));
  const s = await session(model, threads);
  let side = Number(option(args, '--img', '0'));
  if (!side) {
    const meta = s.inputMetadata ? s.inputMetadata[0] : undefined;
    side = meta && meta.shape ? Number(meta.shape[3]) : 224;
  }
  const results = [];
  for (const batch of batches) {
    const data = new Float32Array(batch * 3 * side * side);
    for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i * 12.9898) * 1.5;
    const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', data, [batch, 3, side, side])};
    for (let i = 0; i < warmup; ++i) await s.run(feeds);
    const times = [];
    const start = process.hrtime.bigint();
    while (times.length < 5 || Number(process.hrtime.bigint() - start) / 1e9 < minTime) {
      const t0 = process.hrtime.bigint();
      await s.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const median = quantile(times, 0.5);
    results.push({batch, latency_ms_median: median, latency_ms_p90: quantile(times, 0.9),
                  images_per_second: batch * 1000 / median, iterations: times.length});
    process.stderr.write(`onnxruntime batch ${batch}: ${median.toFixed(2)} ms, ` +
                         `${(batch * 1000 / median).toFixed(1)} img/s\n`);
  }
  console.log(JSON.stringify({runtime: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
                              model: path.resolve(model), img_size: side,
                              threads: threads || 'default', results}, null, 2));
}

async function main() {
  const [command, target, ...rest] = process.argv.slice(2);
  if (command === 'infer' && target) return infer(target);
  if (command === 'bench' && target) return bench(target, rest);
  if (command === 'score' && target && rest.length === 1) return score(target, rest[0]);
  fail('usage: ort.js infer JOBS.json | ort.js score MODEL.onnx DIR | ort.js bench MODEL.onnx [--batch 1,8,64] [--img S] ' +
       '[--threads N] [--warmup W] [--min-time S]');
}

main().catch((e) => fail(e.message || String(e)));

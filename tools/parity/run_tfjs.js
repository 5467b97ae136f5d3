// Runs TF.js graph models from disk on the pure-JS CPU backend, for tools/parity_tfjs.py.
//
//   node run_tfjs.js JOBS.json
//
// JOBS.json: [{"model": ".../NAME.json", "input": "x.bin", "shape": [n, h, w, c],
//              "outputs": ["Identity:0", ...], "result": "prefix"}]
// Inputs are raw little-endian float32; each output i is written to PREFIX.i.bin and the
// shapes to PREFIX.json.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// IO handler reading model.json and its shards from disk (tfjs without tfjs-node has none).
function fileHandler(modelJson) {
  return {
    load: async () => {
      const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      const dir = path.dirname(modelJson);
      const shards = model.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
      const data = Buffer.concat(shards);
      return {
        modelTopology: model.modelTopology,
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy,
        signature: model.signature,
        userDefinedMetadata: model.userDefinedMetadata,
        weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      };
    },
  };
}

async function main() {
  await tf.setBackend('cpu');
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const models = {};
  for (const job of jobs) {
    models[job.model] = models[job.model] || await tf.loadGraphModel(fileHandler(job.model));
    const buf = fs.readFileSync(job.input);
    const values = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const input = tf.tensor(values, job.shape, 'float32');
    const outputs = [].concat(models[job.model].execute(input, job.outputs));
    const shapes = [];
    for (let i = 0; i < outputs.length; i++) {
      fs.writeFileSync(`${job.result}.${i}.bin`, Buffer.from((await outputs[i].data()).buffer));
      shapes.push(outputs[i].shape);
    }
    fs.writeFileSync(`${job.result}.json`, JSON.stringify(shapes));
    tf.dispose([input, ...outputs]);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });

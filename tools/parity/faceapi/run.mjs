// Runs @vladmandic/face-api's own networks (its Node build, on the pure-JS tfjs CPU backend:
// package.json maps @tensorflow/tfjs-node to @tensorflow/tfjs) on tensors written by
// `python -m tools.parity_faceapi`, and writes their outputs back.
//
//   node tools/parity/faceapi/run.mjs JOB_DIR
//
// JOB_DIR/job.json: { modelDir, cases: [{ id, net, mode, inputs: [{ file, shape }], size? }] }
// Inputs are raw little-endian float32 HWC images. mode "raw": the images are already the net's
// input size, so face-api's padToSquare/resize are no-ops and the net's forward pass is compared.
// mode "pipeline": the image is a full photo run through detectAllFaces (SSD) → landmarks →
// expressions → age/gender → descriptors, results written as JSON.
// Outputs: JOB_DIR/<id>.<output>.f32 (+ shapes in JOB_DIR/results.json).
import fs from 'node:fs';
import path from 'node:path';
import * as faceapi from '@vladmandic/face-api';

const { tf, nets } = faceapi;

const NETS = {
  face_landmark_68: nets.faceLandmark68Net,
  face_landmark_68_tiny: nets.faceLandmark68TinyNet,
  age_gender: nets.ageGenderNet,
  face_expression: nets.faceExpressionNet,
  face_recognition: nets.faceRecognitionNet,
  ssd_mobilenetv1: nets.ssdMobilenetv1,
  tiny_face_detector: nets.tinyFaceDetector,
};

// The forward pass of each net as face-api runs it, minus the result-object wrapping.
// Landmarks: runNet is the raw fc output (forwardInput would also map it to the unpadded crop).
const FORWARD = {
  face_landmark_68: (input) => ({ landmarks: NETS.face_landmark_68.runNet(input) }),
  face_landmark_68_tiny: (input) => ({ landmarks: NETS.face_landmark_68_tiny.runNet(input) }),
  age_gender: (input) => NETS.age_gender.forwardInput(input),
  face_expression: (input) => ({ expressions: NETS.face_expression.forwardInput(input) }),
  face_recognition: (input) => ({ descriptor: NETS.face_recognition.forwardInput(input) }),
  ssd_mobilenetv1: (input) => {
    const { boxes, scores } = NETS.ssd_mobilenetv1.forwardInput(input);
    return { boxes: tf.stack(boxes), scores: tf.stack(scores) };
  },
  tiny_face_detector: (input, size) => ({ grid: NETS.tiny_face_detector.forwardInput(input, size) }),
};

function readImage(dir, { file, shape }) {
  const data = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, file))).buffer);
  return tf.tensor3d(data, shape, 'float32');
}

async function runPipeline(image) {
  const results = await faceapi
    .detectAllFaces(image, new faceapi.SsdMobilenetv1Options())
    .withFaceLandmarks()
    .withFaceExpressions()
    .withAgeAndGender()
    .withFaceDescriptors();
  return results.map((r) => ({
    score: r.detection.score,
    box: [r.detection.box.x, r.detection.box.y, r.detection.box.width, r.detection.box.height],
    landmarks: r.landmarks.positions.map((p) => [p.x, p.y]),
    alignedRect: [r.alignedRect.box.x, r.alignedRect.box.y, r.alignedRect.box.width,
      r.alignedRect.box.height],
    expressions: faceapi.FACE_EXPRESSION_LABELS.map((k) => r.expressions[k]),
    age: r.age,
    gender: r.gender,
    genderProbability: r.genderProbability,
    descriptor: Array.from(r.descriptor),
  }));
}

async function main() {
  const dir = process.argv[2];
  const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8'));
  await tf.setBackend('cpu');
  await tf.ready();
  const results = { backend: tf.getBackend(), tfjs: tf.version_core, cases: {} };
  for (const net of new Set(job.cases.flatMap((c) => (c.mode === 'pipeline'
    ? ['ssd_mobilenetv1', 'face_landmark_68', 'face_expression', 'age_gender', 'face_recognition']
    : [c.net])))) {
    if (!NETS[net].isLoaded) await NETS[net].loadFromDisk(job.modelDir);
  }
  for (const c of job.cases) {
    const images = c.inputs.map((input) => readImage(dir, input));
    if (c.mode === 'pipeline') {
      results.cases[c.id] = { faces: await runPipeline(images[0]) };
    } else {
      // An array of 3D tensors is face-api's batch input (NetInput stacks them).
      const netInput = await faceapi.toNetInput(images);
      const outputs = FORWARD[c.net](netInput, c.size);
      results.cases[c.id] = {};
      for (const [name, tensor] of Object.entries(outputs)) {
        const data = tensor.dataSync();
        fs.writeFileSync(path.join(dir, `${c.id}.${name}.f32`),
          Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        results.cases[c.id][name] = tensor.shape;
        tensor.dispose();
      }
    }
    images.forEach((t) => t.dispose());
  }
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results));
}

await main();

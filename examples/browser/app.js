// The demo page: everything heavy runs in softprompt's Web Worker (dist/web/worker.js).
import { SoftpromptWorker, fetchFiles, MODEL_FILES } from '../../dist/web/softprompt.js';

const $ = (id) => document.getElementById(id);
const TEMPLATE = '{text}\nThe story is about a';
const VERBALIZER = { girl: ' girl', boy: ' boy' };
const MODEL_URL = new URL('../../shared/models/stories260K/', location.href);
const DATA_URL = new URL('../../shared/datasets/story_gender/', location.href);

// State the page shows, readable by tests (window.demo.state).
const state = { loaded: false, losses: [], zeroShot: null, accuracy: null, generation: null, events: [], error: null, backend: null };
let sp = null;
let paths = null;

function status(text) {
  $('status').textContent = text;
}
function drawLosses() {
  const l = state.losses;
  if (!l.length) return ($('line').setAttribute('points', ''));
  const max = Math.max(...l), min = Math.min(...l), span = max - min || 1;
  const n = Math.max(l.length - 1, 1);
  $('line').setAttribute('points', l.map((v, i) => `${(600 * i) / n},${170 - (160 * (v - min)) / span}`).join(' '));
}
const pct = (x) => `${(100 * x).toFixed(1)}%`;

async function load() {
  const threads = Number($('threads').value) || 1;
  if (threads > 1 && !crossOriginIsolated) throw new Error('more than 1 thread needs a cross-origin-isolated page (serve it with COOP/COEP headers)');
  sp?.terminate();
  sp = await SoftpromptWorker.create({ workerUrl: new URL('../../dist/web/worker.js', import.meta.url), numThreads: threads });
  state.backend = sp.info.backend;
  status(`fetching model (${sp.info.backend})…`);
  const modelFiles = await fetchFiles(MODEL_URL, MODEL_FILES.required, { optional: MODEL_FILES.optional });
  const info = await sp.loadModel(modelFiles);
  status(`fetching data…`);
  paths = await sp.putData(await fetchFiles(DATA_URL, ['train.jsonl', 'validation.jsonl']));
  status(`${info.modelType}, ${(info.parameters / 1e3).toFixed(0)}K parameters; zero-shot evaluation…`);
  const zs = await sp.request('evaluate', { file: paths['validation.jsonl'], adapter: false, template: TEMPLATE, verbalizer: VERBALIZER });
  state.zeroShot = zs.accuracy;
  $('zeroshot').textContent = `${pct(zs.accuracy)} of ${zs.n}`;
  state.loaded = true;
  status(`ready: ${info.modelType} (${info.numLayers} layers) on ${sp.info.backend}${crossOriginIsolated ? ', cross-origin isolated' : ''}`);
  for (const b of ['train', 'classify', 'generate', 'adapterFile']) $(b).disabled = false;
}

async function train(overrides = {}) {
  const options = {
    train: paths['train.jsonl'], template: TEMPLATE, verbalizer: VERBALIZER, method: 'prompt-tuning',
    virtualTokens: Number($('vt').value), lr: Number($('lr').value), steps: Number($('steps').value),
    batchSize: Number($('batch').value), seed: Number($('seed').value), ...overrides,
  };
  state.losses = [];
  state.events = [];
  state.accuracy = null;
  drawLosses();
  $('abort').disabled = false;
  $('train').disabled = true;
  try {
    const r = await sp.train(options, (e) => {
      state.events.push({ ...e, at: performance.now() }); // the bench reads the time of each update
      if (e.kind === 'step') {
        state.losses.push(e.loss);
        $('progress').value = e.step / e.totalSteps;
        $('loss').textContent = e.loss.toFixed(4);
        status(`update ${e.step}/${e.totalSteps}: loss ${e.loss.toFixed(4)}`);
        drawLosses();
      }
    });
    status(`trained ${r.steps} updates in ${r.elapsedSeconds.toFixed(1)} s; evaluating…`);
    const ev = await sp.request('evaluate', { file: paths['validation.jsonl'], adapter: true, template: TEMPLATE, verbalizer: VERBALIZER });
    state.accuracy = ev.accuracy;
    $('accuracy').textContent = `${pct(ev.accuracy)} of ${ev.n}`;
    $('download').disabled = false;
    status(`trained ${r.steps} updates in ${r.elapsedSeconds.toFixed(1)} s; accuracy ${pct(ev.accuracy)}`);
    return { ...r, accuracy: ev.accuracy, n: ev.n };
  } catch (e) {
    if (e.name === 'AbortError') status(e.message);
    throw e;
  } finally {
    $('abort').disabled = true;
    $('train').disabled = false;
  }
}

async function classify(text = $('story').value) {
  const r = await sp.request('classify', { texts: [text], adapter: state.accuracy !== null, template: TEMPLATE, verbalizer: VERBALIZER });
  $('out').textContent = `label: ${r.labels[0]}\n${Object.entries(r.scores[0]).map(([k, v]) => `${k}: ${v.toFixed(3)}`).join('\n')}`;
  return r;
}

async function generate(prompt = $('story').value, maxNewTokens = 30) {
  const r = await sp.request('generate', { prompt, adapter: state.accuracy !== null, maxNewTokens });
  state.generation = r;
  $('out').textContent = prompt + r.text;
  return r;
}

async function zip() {
  return (await sp.request('zipAdapter', {})).zip;
}

async function download() {
  const blob = new Blob([await zip()], { type: 'application/zip' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'story-gender-adapter.zip';
  a.click();
}

// An adapter trained elsewhere (e.g. `softprompt train`, its --out folder zipped) replaces the page's.
async function upload(bytes) {
  if (!bytes) {
    const file = $('adapterFile').files[0];
    if (!file) throw new Error('choose an adapter .zip first');
    bytes = new Uint8Array(await file.arrayBuffer());
  }
  const info = await sp.loadAdapter(bytes);
  status(`loaded a ${info.peftType} adapter (${info.numVirtualTokens} virtual tokens); evaluating…`);
  const ev = await sp.request('evaluate', { file: paths['validation.jsonl'], adapter: true, template: info.template ?? TEMPLATE, verbalizer: info.verbalizer ?? VERBALIZER });
  state.accuracy = ev.accuracy;
  $('accuracy').textContent = `${pct(ev.accuracy)} of ${ev.n} (uploaded adapter)`;
  $('download').disabled = false;
  status(`uploaded adapter: accuracy ${pct(ev.accuracy)}`);
  return { ...info, accuracy: ev.accuracy, n: ev.n };
}

const guard = (f) => () => f().catch((e) => { state.error = e.message; status(`error: ${e.message}`); });
$('load').onclick = guard(load);
$('train').onclick = guard(() => train());
$('abort').onclick = () => sp?.abort();
$('download').onclick = guard(download);
$('adapterFile').onchange = guard(() => upload());
$('classify').onclick = guard(() => classify());
$('generate').onclick = guard(() => generate());
$('threads').max = String(navigator.hardwareConcurrency || 1);

window.demo = { state, load, train, abort: () => sp.abort(), classify, generate, zip, download, upload, worker: () => sp };

/**
 * The packed tarball as a consumer gets it: `npm pack`, then a fresh TypeScript project (strict,
 * module nodenext, skipLibCheck false, types ["node"]) installs it offline, type-checks the
 * README's `## Use it from TypeScript` program and runs it under plain node (no tsx in the
 * project), and the accuracy it prints equals what the installed `softprompt eval` reports for the
 * adapter it saved. The browser entry `softprompt/web` resolves to the bundle, and its types check in a
 * DOM project. Also: the pack lists no test, bench, CI or docs-image files, and no copy of
 * onnxruntime-web's WASM (it comes from that dependency).
 *
 * Offline install: npm ci fills the npm cache with every tarball the repo's lockfile names, but not
 * with registry metadata, so resolving version ranges offline fails (ENOTCACHED). The fresh project
 * therefore gets a lockfile made from the repo's: softprompt from the tarball, and its dependencies
 * (plus typescript and @types/node) at the versions, URLs and integrities the repo installed; then
 * `npm ci --offline` installs the tarball's package with its dependencies from the cache alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SHARED, STORIES } from '../helpers/paths.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** The public API (issue 12) lands in src/index.ts; until a checkout has it there is nothing to import. */
const NO_API = existsSync(join(REPO, 'src', 'index.ts')) ? false : 'src/index.ts (the public API) is not in this checkout yet';

interface PackFile {
  path: string;
}
interface PackResult {
  filename: string;
  files: PackFile[];
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The pack's JSON report (npm prints one array; its warnings go to stderr). */
function pack(args: string[]): PackResult {
  const r = run(NPM, ['pack', '--json', '--ignore-scripts', ...args], REPO);
  return (JSON.parse(r.stdout) as PackResult[])[0]!;
}

/** The newest mtime of any file under dir. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** The README's first ```ts block under `## Use it from TypeScript`. */
export function readmeProgram(readme: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Use it from TypeScript'));
  assert.ok(section, 'README.md has no "## Use it from TypeScript" section');
  const block = /^```ts\n([\s\S]*?)^```/m.exec(section);
  assert.ok(block, 'the "## Use it from TypeScript" section has no ```ts block');
  return block[1]!;
}

test('npm pack lists no test, bench, CI or docs-image files', () => {
  const files = pack(['--dry-run']).files.map((f) => f.path);
  const bad = files.filter((f) => /^(test|bench|\.ci|\.tmp|runs|node_modules)\//.test(f) || /^docs\/.*\.(png|jpe?g|gif|svg|webp)$/.test(f) || f.startsWith('tsconfig'));
  assert.deepEqual(bad, []);
  const api = NO_API === false ? ['dist/src/index.js', 'dist/src/index.d.ts'] : [];
  assert.deepEqual(files.filter((f) => /\.(wasm|map)$/.test(f)), [], 'the pack ships WASM or source maps');
  for (const f of ['package.json', 'README.md', 'bin/softprompt.js', 'dist/src/cli/main.js', 'dist/web/softprompt.js', 'dist/web/worker.js', 'dist/src/web/client.d.ts', 'examples/browser/index.html', ...api]) {
    assert.ok(files.includes(f), `the pack lacks ${f}`);
  }
  assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'the pack ships TypeScript sources');
});

test('the packed tarball installs offline in a fresh strict nodenext project; the README program type-checks, runs under plain node, and matches softprompt eval', { skip: NO_API }, async (t) => {
  // npm test builds first; a targeted run after editing src/ rebuilds here rather than pack stale JS.
  const main = join(REPO, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main) || statSync(main).mtimeMs < newest(join(REPO, 'src'))) run(NPM, ['run', 'build'], REPO);

  // Each phase's wall time goes to the test's diagnostics (its cost in npm test is watched).
  let last = performance.now();
  const lap = (phase: string): void => {
    const now = performance.now();
    t.diagnostic(`${phase}: ${((now - last) / 1000).toFixed(1)} s`);
    last = now;
  };
  const dir = mkdtempSync(join(tmpdir(), 'softprompt-tarball-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tarball = pack(['--pack-destination', dir]).filename;
  const app = join(dir, 'app');
  lap('npm pack');

  // The consumer project and its lockfile (see the header comment).
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string>; bin: Record<string, string>; engines: Record<string, string> };
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; dev?: boolean; devOptional?: boolean }> };
  const version = (name: string): string => repoLock.packages[`node_modules/${name}`]!.version;
  const spec = `file:../${tarball}`;
  const dependencies = { softprompt: spec, typescript: version('typescript'), '@types/node': version('@types/node') };
  const toolchain = new Set(['node_modules/typescript', 'node_modules/@types/node', 'node_modules/undici-types']);
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies },
    'node_modules/softprompt': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(join(dir, tarball))).digest('base64')}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path === '' || (entry.dev === true && !toolchain.has(path))) continue;
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    packages[path] = rest;
  }
  mkdirSync(join(app, 'src'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: false, types: ['node'], outDir: 'out', rootDir: 'src' },
      include: ['src'],
    }),
  );
  writeFileSync(join(app, 'src', 'example.ts'), readmeProgram(readFileSync(join(REPO, 'README.md'), 'utf8')));

  // How the README tells a consumer to skip onnxruntime-node's CUDA download.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  const install = run(NPM, ['ci', '--offline', '--no-audit', '--no-fund'], app, env);
  assert.doesNotMatch(install.stderr, /EBADENGINE/);
  assert.ok(existsSync(join(app, 'node_modules', 'softprompt', 'dist', 'src', 'index.d.ts')));
  assert.ok(!existsSync(join(app, 'node_modules', 'tsx')), 'tsx is installed: it must not be a runtime dependency');
  lap('npm ci --offline');

  run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
  lap('tsc');

  // softprompt/web: the export map names the bundle and worker, and its types check for a page (DOM lib).
  const resolved = run(process.execPath, ['--input-type=module', '-e', "for (const s of ['softprompt/web', 'softprompt/web/worker.js']) console.log(import.meta.resolve(s))"], app).stdout.trim().split('\n');
  assert.deepEqual(resolved.map((u) => fileURLToPath(u).slice(app.length)), ['/node_modules/softprompt/dist/web/softprompt.js', '/node_modules/softprompt/dist/web/worker.js']);
  mkdirSync(join(app, 'web'));
  writeFileSync(join(app, 'web', 'page.ts'), [
    "import { SoftpromptWorker, MODEL_FILES, fetchFiles } from 'softprompt/web';",
    "import type { WebTrainOptions } from 'softprompt/web';",
    "const sp = await SoftpromptWorker.create({ workerUrl: new URL('softprompt/web/worker.js', import.meta.url), numThreads: 1 });",
    "await sp.loadModel(await fetchFiles('/model/', MODEL_FILES.required));",
    "const o: Omit<WebTrainOptions, 'out'> = { train: '/data/train.jsonl', template: '{text}', verbalizer: { a: ' a' }, steps: 2 };",
    'export const steps: number = (await sp.train(o)).steps;',
    '',
  ].join('\n'));
  writeFileSync(join(app, 'tsconfig.web.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], skipLibCheck: false, types: [], noEmit: true },
    include: ['web'],
  }));
  run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.web.json'], app);
  lap('softprompt/web');

  const data = join(SHARED, 'datasets', 'story_gender');
  const r = run(process.execPath, [join('out', 'example.js')], app, { ...env, MODEL: STORIES, DATA: data });
  const printed = /^accuracy (\d+\.\d)%$/m.exec(r.stdout);
  assert.ok(printed, `the program printed no "accuracy N.N%" line:\n${r.stdout}`);
  const generated = r.stdout.slice(printed.index + printed[0].length).trim();
  assert.ok(generated.length > 0, 'the program streamed no generated text');
  lap('the README program');

  const bin = join(app, 'node_modules', 'softprompt', 'bin', 'softprompt.js');
  const ev = run(process.execPath, [bin, 'eval', '--model', STORIES, '--adapter', 'gender-adapter', '--data', join(data, 'validation.jsonl'), '--json'], app, env);
  const report = JSON.parse(ev.stdout.trim().split('\n').at(-1)!) as { accuracy: number; n: number };
  lap('softprompt eval');
  assert.equal(report.n, 400);
  assert.equal(printed[1], (100 * report.accuracy).toFixed(1));
});

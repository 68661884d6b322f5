/**
 * Serves the browser demo (examples/browser/) on 127.0.0.1 with the COOP/COEP headers that make
 * the page cross-origin isolated (so onnxruntime-web may use threads). Node-only:
 *   npm run web-demo                                        # in a checkout: builds, then serves
 *   node node_modules/softprompt/dist/src/web/demo_server.js  # in a project that installed softprompt
 * Paths: /examples/browser/ (the page), /dist/web/ (the bundle, plus onnxruntime-web's .mjs/.wasm
 * from that dependency), /shared/models/ and /shared/datasets/ (from ../shared, or $SOFTPROMPT_SHARED).
 */
// Node's file system, paths and hashing for the core (host.ts).
import '../host_node.ts';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above src/web/, three above the compiled dist/src/web/. */
const here = dirname(fileURLToPath(import.meta.url));
const repo = [resolve(here, '..', '..'), resolve(here, '..', '..', '..')].find((d) => existsSync(join(d, 'examples', 'browser', 'index.html'))) ?? resolve(here, '..', '..');
/** onnxruntime-web's dist folder: the WASM runtime is served from the dependency, not shipped twice. */
export const ORT_WASM_DIR = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.jsonl': 'application/x-ndjson', '.map': 'application/json', '.safetensors': 'application/octet-stream',
  '.csv': 'text/csv', '.txt': 'text/plain', '.model': 'application/octet-stream',
};

export interface DemoServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function serveDemo(opts: { port?: number; shared?: string } = {}): Promise<DemoServer> {
  const shared = resolve(opts.shared ?? process.env['SOFTPROMPT_SHARED'] ?? join(repo, '..', 'shared'));
  const roots: [string, string][] = [
    ['/examples/browser/', join(repo, 'examples', 'browser')],
    ['/dist/web/', join(repo, 'dist', 'web')],
    ['/dist/web/', ORT_WASM_DIR],
    ['/shared/models/', join(shared, 'models')],
    ['/shared/datasets/', join(shared, 'datasets')],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (path === '/' || path === '/examples/browser') {
      res.writeHead(302, { location: '/examples/browser/' });
      return res.end();
    }
    for (const [prefix, dir] of roots) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
      if (!file.startsWith(dir + sep) && file !== dir) continue;
      const f = existsSync(file) && statSync(file).isDirectory() ? join(file, 'index.html') : file;
      if (!existsSync(f)) continue;
      res.writeHead(200, { 'content-type': TYPES[extname(f)] ?? 'application/octet-stream', 'content-length': statSync(f).size });
      createReadStream(f).pipe(res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`not found: ${path}\n`);
  });
  await new Promise<void>((ok) => server.listen(opts.port ?? 0, '127.0.0.1', ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}/examples/browser/`, server, close: () => new Promise((ok) => server.close(() => ok())) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!existsSync(join(repo, 'dist', 'web', 'worker.js'))) console.error(`${join(repo, 'dist', 'web')} is missing: run npm run build first`);
  const s = await serveDemo({ port: Number(process.env['PORT'] ?? 8080) });
  console.log(`softprompt browser demo: ${s.url}`);
}

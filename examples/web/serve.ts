/**
 * Serves the browser demo on 127.0.0.1 with the COOP/COEP headers that make the page
 * cross-origin isolated (so onnxruntime-web may use threads):
 *   npm run web-demo            # builds dist/web, then serves; open the printed URL
 * Paths: /examples/web/ (the page), /dist/web/ (the bundle), /shared/models/ and /shared/datasets/
 * (from ../shared, or $SOFTPROMPT_SHARED).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
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
    ['/examples/web/', join(repo, 'examples', 'web')],
    ['/dist/web/', join(repo, 'dist', 'web')],
    ['/shared/models/', join(shared, 'models')],
    ['/shared/datasets/', join(shared, 'datasets')],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (path === '/' || path === '/examples/web') {
      res.writeHead(302, { location: '/examples/web/' });
      return res.end();
    }
    for (const [prefix, dir] of roots) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
      if (!file.startsWith(dir + sep) && file !== dir) break;
      const f = existsSync(file) && statSync(file).isDirectory() ? join(file, 'index.html') : file;
      if (!existsSync(f)) break;
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
  return { url: `http://127.0.0.1:${port}/examples/web/`, server, close: () => new Promise((ok) => server.close(() => ok())) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!existsSync(join(repo, 'dist', 'web', 'worker.js'))) console.error('dist/web is missing: run npm run build:web first');
  const s = await serveDemo({ port: Number(process.env['PORT'] ?? 8080) });
  console.log(`softprompt browser demo: ${s.url}`);
}

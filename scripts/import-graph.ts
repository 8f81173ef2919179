/**
 * Figures about the server's import graph (`npm run graph`): floors (the
 * longest chain of imports, modules in a cycle counted as one), imports that
 * run from a lower layer up, and cycles. The rules that keep them down are in
 * .dependency-cruiser.mjs; this only reports.
 */
import { execFileSync } from 'node:child_process';

const root = process.argv[2] ?? '.';
const out = execFileSync(new URL('../node_modules/.bin/depcruise', import.meta.url).pathname, ['src', '--no-config', '--ts-pre-compilation-deps', '--output-type', 'json'], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
  stdio: ['ignore', 'pipe', 'ignore'],
});
const { modules } = JSON.parse(out) as { modules: { source: string; dependencies: { resolved: string; coreModule: boolean; couldNotResolve: boolean }[] }[] };
const local = (path: string) => path.startsWith('src/');
const graph = new Map<string, string[]>();
for (const m of modules.filter((m) => local(m.source))) {
  graph.set(m.source, m.dependencies.filter((d) => local(d.resolved)).map((d) => d.resolved));
}

/** Layer of a module: 0 shared ground, 1 domain, 2 HTTP (infrastructure, routes, what routes receive), 3 composition. */
function layer(path: string): number {
  if (/^src\/(app|main)\.ts$/.test(path) || path === 'src/http/openapi.ts') return 3;
  if (path === 'src/services.ts' || path.startsWith('src/http/') || path.endsWith('/routes.ts') || path === 'src/auth/plugin.ts') return 2;
  if (/^src\/(db\/|metrics\/|errors\.ts|limits\.ts|shapes\.ts|values\.ts|config\.ts)/.test(path)) return 0;
  return 1;
}

// Tarjan's strongly connected components.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const component = new Map<string, number>();
const components: string[][] = [];
function strong(v: string): void {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const members: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.set(w, components.length);
      members.push(w);
    } while (w !== v);
    components.push(members);
  }
}
for (const v of graph.keys()) if (!idx.has(v)) strong(v);

const floorOf = new Map<number, number>();
function floor(c: number): number {
  const known = floorOf.get(c);
  if (known !== undefined) return known;
  floorOf.set(c, 1);
  let f = 1;
  for (const v of components[c]!) for (const w of graph.get(v) ?? []) if (component.get(w) !== c) f = Math.max(f, floor(component.get(w)!) + 1);
  floorOf.set(c, f);
  return f;
}
const floors = Math.max(...components.map((_, c) => floor(c)));
const upward = [...graph].flatMap(([from, tos]) => tos.filter((to) => layer(to) > layer(from)).map((to) => `${from} -> ${to}`));
const cycles = components.filter((c) => c.length > 1);
console.log(JSON.stringify({ modules: graph.size, floors, upward: upward.length, cycles: cycles.length }, null, 2));
for (const u of upward) console.log('  up:', u);
for (const c of cycles) console.log('  cycle:', c.join(' , '));

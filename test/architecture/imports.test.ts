import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkImports, describeViolation, importSpecifiers, type SourceFile } from './import-rules.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir: string): SourceFile[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|mts|js)$/.test(e.name) ? [{ path: relative(SRC, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }] : [];
  });
}

describe('import specifiers', () => {
  it('sees static, type-only, side-effect, re-export and dynamic imports', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import './side.js';",
      "export * from './star.js';",
      "export { c, type D } from \"./c.js\";",
      'const lazy = await import(\n  "./lazy.js");',
      "import {\n  e,\n  f,\n} from './multi.js';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a.js', '../b.js', './side.js', './star.js', './c.js', './lazy.js', './multi.js']);
  });

  it('ignores import-like text in comments, strings, templates and regexes', () => {
    const text = [
      "// import { x } from './comment.js';",
      "/* export * from './block.js'; */",
      "const s = \"import('./string.js')\";",
      "const t = `from '${'./template.js'}'`;",
      "const r = /from '.\\/regex.js'/;",
      "const words = 'from';",
      "const fromX = Array.from('abc');",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual([]);
  });
});

describe('layering rules', () => {
  it('names the file and the import that break a rule', () => {
    const files: SourceFile[] = [
      { path: 'security/jwt/keyset.ts', text: "import { x } from '../../config/istio/parse.js';" },
      { path: 'filters/http/rbac/index.ts', text: "const m = await import('../../../config/istio/resources.js');" },
      { path: 'worker/runtime.ts', text: "export type { T } from '../config/istio/translate.js';" },
      { path: 'config/snapshot.ts', text: "import type { R } from './istio/resources.js';" },
      { path: 'config/istio/translate.ts', text: "import { b } from '../../security/authz/builder.js';" },
      { path: 'config/envoy/rbac.ts', text: "import type { P } from '../../filters/http/rbac/index.js';" },
      { path: 'config/load.ts', text: "import { c } from '../security/credentials.js';\nimport { t } from './istio/translate.js';" },
    ];
    expect(checkImports(files).map(describeViolation)).toEqual([
      "src/security/jwt/keyset.ts imports '../../config/istio/parse.js': only config/istio and config/load.ts may import config/istio (Istio is a front end of the Envoy-shaped Snapshot)",
      "src/filters/http/rbac/index.ts imports '../../../config/istio/resources.js': only config/istio and config/load.ts may import config/istio (Istio is a front end of the Envoy-shaped Snapshot)",
      "src/worker/runtime.ts imports '../config/istio/translate.js': only config/istio and config/load.ts may import config/istio (Istio is a front end of the Envoy-shaped Snapshot)",
      "src/config/snapshot.ts imports './istio/resources.js': only config/istio and config/load.ts may import config/istio (Istio is a front end of the Envoy-shaped Snapshot)",
      "src/config/istio/translate.ts imports '../../security/authz/builder.js': config/ must not import the runtime module security/ (shared types belong in config/)",
      "src/config/envoy/rbac.ts imports '../../filters/http/rbac/index.js': config/ must not import the runtime module filters/ (shared types belong in config/)",
      "src/config/load.ts imports '../security/credentials.js': config/ must not import the runtime module security/ (shared types belong in config/)",
    ]);
  });

  it('allows the runtime to import config/ types, config to import common/, and packages', () => {
    const files: SourceFile[] = [
      { path: 'security/authz/rbac.ts', text: "import type { Rbac } from '../../config/envoy/rbac.js';\nimport { x } from 'jose';" },
      { path: 'config/istio/parse.ts', text: "import { parseCidr } from '../../common/cidr.js';\nimport { readFile } from 'node:fs/promises';" },
      { path: 'config/istio/translate.ts', text: "import type { Snapshot } from '../snapshot.js';\nimport { a } from './authz-builder.js';" },
    ];
    expect(checkImports(files)).toEqual([]);
  });

  it('hold on src/', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(100);
    expect(files.some((f) => f.path === 'config/istio/translate.ts')).toBe(true);
    expect(checkImports(files).map(describeViolation)).toEqual([]);
  });
});

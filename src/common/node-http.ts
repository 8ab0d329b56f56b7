/**
 * node:http as its CommonJS exports. An ESM import of it (`import { createServer } from 'node:http'`)
 * builds the module's namespace, which reads every export, and three of them (WebSocket, CloseEvent,
 * MessageEvent) are lazy getters that load node's bundled undici: +2.1 MiB of V8 heap in each thread
 * that imports it and ~12 MiB of RSS for the process. Types: `import type` from 'node:http'.
 */
export const nodeHttp = process.getBuiltinModule('node:http');

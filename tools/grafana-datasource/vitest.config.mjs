// vitest: a happy-dom environment (@grafana/data and @grafana/ui touch window
// and document when imported); the tests mock @grafana/runtime where needed.
// @grafana/data's ESM build imports moment-timezone with named imports that
// Node's CJS interop refuses, so the tests load its CommonJS build instead.
import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    alias: [{ find: /^@grafana\/data$/, replacement: require.resolve('@grafana/data') }],
  },
  test: {
    environment: 'happy-dom',
    testTimeout: 30000,
  },
});

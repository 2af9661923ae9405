import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // the published 0.5.15 adapter imports nvent's auto-imports
    alias: {
      '#imports': fileURLToPath(new URL('./__test__/support/nvent-imports.mjs', import.meta.url)),
      // the adapter class of 0.5.15 is not in its package exports
      '#seed-adapter': fileURLToPath(new URL('./node_modules/seed-adapter-store-redis/dist/runtime/adapter.js', import.meta.url)),
    },
  },
  test: {
    globalSetup: ['__test__/support/global-setup.mjs'],
    // the build from source compiles for minutes: alone, before the rest
    projects: [
      { extends: true, test: { name: 'from-source', include: ['__test__/from-source.test.mjs'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'suite', include: ['__test__/**/*.test.mjs'], exclude: ['__test__/from-source.test.mjs'], sequence: { groupOrder: 1 } } },
    ],
    pool: 'forks',
    // run 0.5.15 through vite so that its `#imports` reaches the stand-in
    server: { deps: { inline: ['seed-adapter-store-redis'] } },
    testTimeout: 30000,
    hookTimeout: 30000,
  },
})

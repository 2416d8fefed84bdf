import type { Config } from 'jest'

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/examples'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  moduleNameMapper: {
    '^talk$': '<rootDir>/index.ts',
    '^talk/client$': '<rootDir>/lib/client/index.ts',
    '^talk/testing$': '<rootDir>/lib/testing.ts',
    '^talk/protocol$': '<rootDir>/lib/protocol-entry.ts',
    // Relative imports spelled for ES modules ('./tasks.js', as in examples/rest-migration) find the .ts source.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFiles: ['<rootDir>/test/helpers/env.ts'],
  testTimeout: 20000,
  // Sockets, child processes and browsers: two workers fit a 2-core machine.
  maxWorkers: 2,
}

export default config

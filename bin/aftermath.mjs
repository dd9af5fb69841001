#!/usr/bin/env node
// The package's `aftermath` command: runs the TypeScript CLI (server/cli/main.ts) through
// tsx's loader, resolved from this package so it works from any working directory.
import { register } from 'tsx/esm/api'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

register()
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
await import(pathToFileURL(join(root, 'server', 'cli', 'main.ts')).href)

#!/usr/bin/env node
// contrastream command-line entry. The sources are TypeScript, run through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

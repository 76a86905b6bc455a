#!/usr/bin/env node
// The `mco` executable: real process output and environment, then main().
import { main } from './main.js';
import { processOutput } from './output.js';

process.exitCode = await main(process.argv.slice(2), { output: processOutput, env: process.env });

#!/usr/bin/env node
// The `mco` executable: real process output and environment, then main().
import { main } from './main.js';
import { endQuietlyWhenStdoutCloses, processOutput } from './output.js';

endQuietlyWhenStdoutCloses();
process.exitCode = await main(process.argv.slice(2), { output: processOutput, env: process.env });

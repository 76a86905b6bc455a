#!/usr/bin/env node
// The `machine-config-daemon` executable, as the MCO names it: `machine-config-daemon pivot IMAGE`
// is `mco node pivot IMAGE`.
import { main } from './main.js';
import { endQuietlyWhenStdoutCloses, processOutput } from './output.js';

endQuietlyWhenStdoutCloses();
process.exitCode = await main(['node', ...process.argv.slice(2)], { output: processOutput, env: process.env });

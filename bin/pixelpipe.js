#!/usr/bin/env node
// Entry point of the `pixelpipe` command (built output; `npm run build` makes dist/).
import '../dist/interfaces/cli/main.js';

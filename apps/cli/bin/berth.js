#!/usr/bin/env node
// Launcher kept in the source tree so npm can link `berth` before the first build.
require('../dist/main.js');

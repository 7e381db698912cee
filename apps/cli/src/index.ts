/** The CLI as a library: the program builder (for tests and embedding) and its HTTP client. */
export { createProgram, runCli, type BerthProgram, type ProgramIo } from './program';
export { BerthClient, type ApplyItem, type DiffItem } from './client/http-client';
export { loadEnvironment, type CliEnvironment } from './environment';

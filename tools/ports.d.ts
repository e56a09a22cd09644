/** Types of ports.js for the TypeScript tests and benchmarks. */
export function freePort(withBus?: boolean): Promise<number>;
export function isPortFree(port: number): Promise<boolean>;
export function preferredOrFreePort(preferred: number): Promise<number>;

export * from './tokens';
export * from './esp';
export * from './handler';
export * from './routes';
export * from './secrets';
export * from './browser';
export * from './snippet';

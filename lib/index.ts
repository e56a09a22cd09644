export * from './errors';
export * from './keys';
export * from './values';
export * from './store';
export * from './contacts';
export * from './events';
export * from './redis/connection';
export * from './redis/pool';

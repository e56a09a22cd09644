export * from './filters';
export * from './consumer';
export * from './schedules';
export * from './runner';
export * from './deadLetters';

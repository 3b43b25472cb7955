export * from './errors.js';
export * from './topics.js';
export * from './schemas.js';
export * from './isobmff.js';
export * from './mp4-init.js';
export * from './fmp4-segmenter.js';
export * from './channels.js';
export * from './mqtt5.js';

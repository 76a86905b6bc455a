// PLACEHOLDER while being written in this session.
import type { Group } from '../command.js';

export const demoGroup: Group = { name: 'demo', summary: 'Demonstrations', globals: {}, verbs: {} };

import { builder } from './builder.js';
import { Decision } from './decision.js';

export const DecisionConnection = builder.connectionObject(
  { type: Decision, name: 'DecisionConnection', description: 'A page of the decision history, newest first' },
  { name: 'DecisionEdge' },
);

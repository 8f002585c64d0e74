import { builder } from './builder.js';
import './date-time.js';
import './decision.js';
import './invalid-application.js';
import './model-info.js';
import './score-application-result.js';
import '../resolvers/decision.js';
import '../resolvers/decisions.js';
import '../resolvers/reason-codes.js';
import '../resolvers/review-decision.js';
import '../resolvers/model-info.js';
import '../resolvers/reload-model.js';
import '../resolvers/score-application.js';
import '../resolvers/score-applications.js';

builder.queryType({});
builder.mutationType({});

export const schema = builder.toSchema();

import { HOME_OWNERSHIPS } from '../model/application.js';
import { builder } from './builder.js';

export const HomeOwnership = builder.enumType('HomeOwnership', { values: HOME_OWNERSHIPS });

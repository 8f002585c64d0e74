import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT, ConfigError, parseConfig } from '../src/config.js';

describe('parseConfig', () => {
  it('has documented defaults', () => {
    const config = parseConfig({});
    expect(config.http.port).toBe(8000);
    expect(config.batching).toEqual({ windowMs: 1, maxBatchSize: 1024, scope: 'process' });
    expect(config.limits.bulkMaxItems).toBe(1000);
    expect(config.http.httpBatchLimit).toBe(20);
    expect(config.model.dir).toBe(path.join(APP_ROOT, 'models/loan-default-lr-1.0.0'));
    expect(config.model.modelsDir).toBe(path.join(APP_ROOT, 'models'));
    expect(parseConfig({ MODELS_DIR: 'run/models' }).model.modelsDir).toBe(path.join(APP_ROOT, 'run/models'));
    expect(config.audit.file).toBe(path.join(APP_ROOT, 'data/decisions.db'));
    expect(existsSync(path.join(APP_ROOT, 'package.json'))).toBe(true);
  });

  it('reports every problem at once', () => {
    try {
      parseConfig({ PORT: 'eighty', BATCH_MAX_SIZE: '0', APPROVE_THRESHOLD: '2' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('PORT');
      expect(message).toContain('BATCH_MAX_SIZE');
      expect(message).toContain('APPROVE_THRESHOLD');
    }
  });

  it('refuses an approve threshold above the decline threshold', () => {
    expect(() => parseConfig({ APPROVE_THRESHOLD: '0.5', DECLINE_THRESHOLD: '0.2' })).toThrow(/APPROVE_THRESHOLD/);
  });
});

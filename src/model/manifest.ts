import path from 'node:path';
import { z } from 'zod';

/** A path that stays inside the directory it is taken from: relative, no ".." segment, no NUL. */
function staysInside(file: string): boolean {
  return !path.isAbsolute(file) && !file.includes('\0') && !file.split(/[\\/]/).includes('..') && path.normalize(file) !== '.';
}

const featureSchema = z.object({
  name: z.string().min(1),
  /** shown in reasons; defaults to the catalogue's description */
  description: z.string().optional(),
  /** the value a counterfactual row sets this feature to when explaining a score (e.g. the training mean) */
  reference: z.number(),
});

export const manifestSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'name must be letters, digits, ".", "_" or "-"'),
  version: z.string().min(1),
  createdAt: z.string().datetime({ offset: true }),
  /** a file in the model directory (symlinks are followed only within it) @default "model.onnx" */
  onnxFile: z
    .string()
    .min(1)
    .refine(staysInside, 'must name a file inside the model directory (a relative path without "..")')
    .default('model.onnx'),
  input: z.object({ name: z.string().min(1) }),
  features: z.array(featureSchema).min(1),
  output: z.object({
    name: z.string().min(1),
    /** the column of a [N, C] output that holds the probability; 0 for a [N] or [N, 1] output */
    column: z.number().int().min(0),
    /** whether the probability is of default or of approval (then 1 − p is the probability of default) */
    meaning: z.enum(['default', 'approval']),
  }),
  thresholds: z
    .object({
      /** probability of default below this → APPROVE */
      approve: z.number().gt(0).lt(1),
      /** probability of default at or above this → DECLINE */
      decline: z.number().gt(0).lt(1),
    })
    .refine((t) => t.approve <= t.decline, 'thresholds.approve must not exceed thresholds.decline'),
  metrics: z
    .object({
      auc: z.number().optional(),
      ks: z.number().optional(),
      brier: z.number().optional(),
      oracleAuc: z.number().optional(),
      trainRows: z.number().int().optional(),
      testRows: z.number().int().optional(),
    })
    .default({}),
  data: z.object({
    synthetic: z.boolean(),
    description: z.string(),
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;

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

/** Bin edges in ascending order: bins are (−∞, e₀], (e₀, e₁], …, (eₙ₋₁, ∞), so n edges make n + 1 bins. */
const edgesSchema = z
  .array(z.number())
  .refine((edges) => edges.every((e, i) => i === 0 || e > edges[i - 1]), 'edges must be strictly ascending');
const sharesSchema = z
  .array(z.number().min(0).max(1))
  .min(1)
  .refine((shares) => Math.abs(shares.reduce((s, x) => s + x, 0) - 1) <= 0.001, 'shares must add up to 1');

/** The training distribution of a number: its bins and the share of the training rows in each. */
const binnedSchema = z
  .object({ edges: edgesSchema, shares: sharesSchema })
  .refine((b) => b.shares.length === b.edges.length + 1, 'shares must have one entry more than edges');

/**
 * One explained field's training distribution: a numeric or derived feature by `edges` (deciles of the training
 * rows), a one-hot group (`homeOwnership`, `loanPurpose`) by its `categories`; `shares` in the same order.
 */
const profileFeatureSchema = z
  .object({
    name: z.string().min(1),
    edges: edgesSchema.optional(),
    categories: z.array(z.string().min(1)).min(1).optional(),
    shares: sharesSchema,
  })
  .superRefine((f, ctx) => {
    if ((f.edges === undefined) === (f.categories === undefined)) {
      ctx.addIssue({ code: 'custom', message: `profile feature "${f.name}" needs either edges or categories` });
    } else if (f.shares.length !== (f.edges ? f.edges.length + 1 : f.categories!.length)) {
      ctx.addIssue({
        code: 'custom',
        message: `profile feature "${f.name}" needs one share per ${f.edges ? 'bin (edges + 1)' : 'category'}`,
      });
    }
  });

/**
 * The reference profile drift is measured against (models/README.md, "profile"): written by the trainer, optional so
 * that a model without one still serves (monitoring then says it has no reference).
 */
export const profileSchema = z.object({
  /** training rows the shares were counted on */
  rows: z.number().int().positive(),
  features: z.array(profileFeatureSchema).refine((fs) => new Set(fs.map((f) => f.name)).size === fs.length, 'profile features must be distinct'),
  /** the model's predicted probability of default on the training rows */
  probabilityOfDefault: binnedSchema.optional(),
});

export type ReferenceProfile = z.infer<typeof profileSchema>;
export type ProfileFeature = ReferenceProfile['features'][number];

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
  profile: profileSchema.optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;

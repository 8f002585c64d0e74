/**
 * The reference profile written into model.json (models/README.md, "profile"): for each explained field, the bins
 * live drift is counted in and the share of the training rows in each; the same for the predicted probability of
 * default. Deterministic: sort and index, no interpolation, no randomness.
 */
import { binOf } from '../src/model/drift-monitor.js';
import type { CatalogueFeature } from '../src/model/features.js';
import type { ReferenceProfile } from '../src/model/manifest.js';

/** Edges are written with 6 significant digits: readable, and the shares are counted with the edges as written. */
const roundEdge = (x: number) => Number(x.toPrecision(6));
/** count / rows to 6 decimals (exact for up to a million rows of whole counts over a power of ten) */
const share = (count: number, rows: number) => Number((count / rows).toFixed(6));

/**
 * Decile edges of `values`: the 1st to 9th deciles (the smallest value with at least q·n values at or below it),
 * rounded, without repeats, and without an edge at or above the maximum (a last bin no training row falls in).
 */
export function decileEdges(values: ArrayLike<number>): number[] {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const edges: number[] = [];
  for (let q = 1; q < 10; q++) {
    const edge = roundEdge(sorted[Math.ceil((q * n) / 10) - 1]);
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  while (edges.length > 0 && edges[edges.length - 1] >= sorted[n - 1]) edges.pop();
  return edges;
}

/** The training share of each bin of `edges`, counted with the same `binOf` the service counts with. */
function binShares(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binOf(edges, values[i])]++;
  return counts.map((c) => share(c, values.length));
}

function binned(values: ArrayLike<number>): { edges: number[]; shares: number[] } {
  const edges = decileEdges(values);
  return { edges, shares: binShares(values, edges) };
}

/**
 * The profile of the training rows: `matrix` is their encoded `[rows, F]` float32 matrix (the values the service
 * sees), `probabilities` the model's probability of default for each. One entry per explained field, in the order
 * each field's first column appears; a one-hot group is one entry listing its categories.
 */
export function referenceProfile(matrix: Float32Array, features: readonly CatalogueFeature[], probabilities: ArrayLike<number>): ReferenceProfile {
  const width = features.length;
  const rows = matrix.length / width;
  const column = (j: number) => {
    const values = new Float32Array(rows);
    for (let i = 0; i < rows; i++) values[i] = matrix[i * width + j];
    return values;
  };
  const entries: ReferenceProfile['features'] = [];
  const seen = new Set<string>();
  for (const [j, f] of features.entries()) {
    if (seen.has(f.field)) continue;
    seen.add(f.field);
    if (f.category === undefined) {
      entries.push({ name: f.name, ...binned(column(j)) });
      continue;
    }
    const group = features.flatMap((g, k) => (g.field === f.field ? [k] : []));
    const counts = group.map((k) => column(k).reduce((s, v) => s + (v === 1 ? 1 : 0), 0));
    entries.push({ name: f.field, categories: group.map((k) => features[k].category!), shares: counts.map((c) => share(c, rows)) });
  }
  return { rows, features: entries, probabilityOfDefault: binned(probabilities) };
}

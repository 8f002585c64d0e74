/**
 * L2-regularised logistic regression, fitted by Newton's method (IRLS) on standardised inputs.
 *
 * Deterministic by construction: no randomness, a fixed order of every floating-point sum, a fixed maximum number
 * of Newton steps and a fixed convergence test, so the same inputs always give the same coefficients bit for bit.
 */

export interface LogisticRegressionOptions {
  /**
   * L2 penalty λ on the standardised weights (not on the intercept): the fit minimises
   * Σ logloss + λ/2 · ‖w‖². Also what keeps a full set of one-hot indicators identifiable.
   * @default 1
   */
  l2?: number;
  /** @default 50 */
  maxIterations?: number;
  /** stop once the largest Newton step is below this @default 1e-10 */
  tolerance?: number;
}

export interface LogisticRegressionModel {
  /** feature count */
  width: number;
  /** training mean of each input column */
  mean: number[];
  /** training standard deviation of each input column (1 where a column is constant) */
  std: number[];
  /** weights on the standardised inputs (x − mean) / std */
  weights: number[];
  intercept: number;
  /** Newton steps taken */
  iterations: number;
  converged: boolean;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Column means and (population) standard deviations of a row-major matrix. */
export function columnMoments(x: ArrayLike<number>, rows: number, width: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(width).fill(0);
  const std = new Array<number>(width).fill(0);
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) mean[j] += x[i * width + j];
  for (let j = 0; j < width; j++) mean[j] /= rows;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < width; j++) {
      const d = x[i * width + j] - mean[j];
      std[j] += d * d;
    }
  }
  for (let j = 0; j < width; j++) {
    const s = Math.sqrt(std[j] / rows);
    std[j] = s > 1e-12 ? s : 1;
  }
  return { mean, std };
}

/** Solves A·x = b for a symmetric positive definite A (row-major, d × d) by Cholesky decomposition. */
function choleskySolve(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * d + j];
      for (let k = 0; k < j; k++) sum -= l[i * d + k] * l[j * d + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error('logistic regression: Hessian is not positive definite (increase l2)');
        l[i * d + i] = Math.sqrt(sum);
      } else {
        l[i * d + j] = sum / l[j * d + j];
      }
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= l[i * d + k] * y[k];
    y[i] = sum / l[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < d; k++) sum -= l[k * d + i] * x[k];
    x[i] = sum / l[i * d + i];
  }
  return x;
}

/**
 * Fits P(y = 1 | x) = σ(b + Σ w_j (x_j − mean_j) / std_j).
 * @param x row-major inputs, `rows × width` (e.g. the Float32Array from the feature catalogue's `encode`)
 * @param y 0/1 labels, one a row
 */
export function fitLogisticRegression(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  width: number,
  options: LogisticRegressionOptions = {},
): LogisticRegressionModel {
  const l2 = options.l2 ?? 1;
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-10;
  const rows = y.length;
  if (x.length !== rows * width) throw new Error(`x has ${x.length} values, expected ${rows} × ${width}`);
  if (rows === 0) throw new Error('logistic regression needs at least one row');
  if (!(l2 >= 0)) throw new Error(`l2 must be non-negative, got ${l2}`);

  const { mean, std } = columnMoments(x, rows, width);
  // standardised design with a leading column of ones for the intercept
  const d = width + 1;
  const z = new Float64Array(rows * d);
  for (let i = 0; i < rows; i++) {
    z[i * d] = 1;
    for (let j = 0; j < width; j++) z[i * d + 1 + j] = (x[i * width + j] - mean[j]) / std[j];
  }

  const beta = new Float64Array(d);
  const gradient = new Float64Array(d);
  const hessian = new Float64Array(d * d);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    gradient.fill(0);
    hessian.fill(0);
    for (let i = 0; i < rows; i++) {
      const row = i * d;
      let eta = 0;
      for (let k = 0; k < d; k++) eta += z[row + k] * beta[k];
      const p = sigmoid(eta);
      const residual = y[i] - p;
      const weight = p * (1 - p);
      for (let k = 0; k < d; k++) {
        const zk = z[row + k];
        gradient[k] += zk * residual;
        const wzk = weight * zk;
        for (let m = 0; m <= k; m++) hessian[k * d + m] += wzk * z[row + m];
      }
    }
    for (let k = 1; k < d; k++) {
      gradient[k] -= l2 * beta[k];
      hessian[k * d + k] += l2;
    }
    for (let k = 0; k < d; k++) for (let m = 0; m < k; m++) hessian[m * d + k] = hessian[k * d + m];
    // tiny ridge on the intercept too, only so a degenerate (all-0 or all-1) label set still solves
    hessian[0] += 1e-12;
    const step = choleskySolve(hessian, gradient, d);
    let largest = 0;
    for (let k = 0; k < d; k++) {
      beta[k] += step[k];
      largest = Math.max(largest, Math.abs(step[k]));
    }
    iterations++;
    if (largest < tolerance) {
      converged = true;
      break;
    }
  }

  return {
    width,
    mean,
    std,
    weights: Array.from(beta.subarray(1)),
    intercept: beta[0],
    iterations,
    converged,
  };
}

/** The log-odds of each row (row-major `x`, `model.width` columns). */
export function predictLogit(model: LogisticRegressionModel, x: ArrayLike<number>): Float64Array {
  const { width, mean, std, weights, intercept } = model;
  const rows = x.length / width;
  if (!Number.isInteger(rows)) throw new Error(`x has ${x.length} values, not a multiple of ${width}`);
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let eta = intercept;
    for (let j = 0; j < width; j++) eta += (weights[j] * (x[i * width + j] - mean[j])) / std[j];
    out[i] = eta;
  }
  return out;
}

/** The probability of the positive class (default) of each row. */
export function predictProbability(model: LogisticRegressionModel, x: ArrayLike<number>): Float64Array {
  return predictLogit(model, x).map(sigmoid);
}

/** The coefficients on the raw (unstandardised) inputs: logit = intercept + Σ weights_j x_j. */
export function rawCoefficients(model: LogisticRegressionModel): { intercept: number; weights: number[] } {
  const weights = model.weights.map((w, j) => w / model.std[j]);
  const intercept = model.intercept - weights.reduce((s, w, j) => s + w * model.mean[j], 0);
  return { intercept, weights };
}

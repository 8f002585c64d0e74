/**
 * Exports a fitted logistic regression as ONNX, shaped like scikit-learn's LogisticRegression through skl2onnx with
 * ZipMap disabled:
 *
 *   float_input  float32 [N, F]  raw catalogue features, in manifest order
 *   label        int64   [N]     1 = default predicted (probability ≥ ½ wins; a tie goes to 0, as in scikit-learn)
 *   probabilities float32 [N, 2] column 0 = no default, column 1 = probability of default
 *
 * The standardisation stays inside the graph (Sub mean, Div std) so the service feeds raw features.
 */
import { TensorType, encodeModel, floatTensor, node, valueInfo } from './onnx-graph.js';
import type { LogisticRegressionModel } from './logistic-regression.js';

export const ONNX_INPUT_NAME = 'float_input';
export const ONNX_PROBABILITY_OUTPUT = 'probabilities';
export const ONNX_LABEL_OUTPUT = 'label';

export interface ExportOptions {
  /** the ONNX graph name @default 'logistic_regression' */
  graphName?: string;
  /** free text stored as the model's doc string */
  docString?: string;
  /** @default 'float_input' */
  inputName?: string;
}

export function exportLogisticRegressionOnnx(model: LogisticRegressionModel, options: ExportOptions = {}): Uint8Array {
  const input = options.inputName ?? ONNX_INPUT_NAME;
  const f = model.width;
  return encodeModel({
    name: options.graphName ?? 'logistic_regression',
    docString: options.docString,
    inputs: [valueInfo(input, TensorType.FLOAT, ['N', f])],
    outputs: [
      valueInfo(ONNX_LABEL_OUTPUT, TensorType.INT64, ['N']),
      valueInfo(ONNX_PROBABILITY_OUTPUT, TensorType.FLOAT, ['N', 2]),
    ],
    initializers: [
      floatTensor('mean', [f], model.mean),
      floatTensor('std', [f], model.std),
      floatTensor('coef', [f, 1], model.weights),
      floatTensor('intercept', [1], [model.intercept]),
      floatTensor('one', [1], [1]),
    ],
    nodes: [
      node('Sub', [input, 'mean'], ['centred']),
      node('Div', ['centred', 'std'], ['standardised']),
      node('MatMul', ['standardised', 'coef'], ['linear']),
      node('Add', ['linear', 'intercept'], ['logit']),
      node('Sigmoid', ['logit'], ['p_default']),
      node('Sub', ['one', 'p_default'], ['p_repaid']),
      node('Concat', ['p_repaid', 'p_default'], [ONNX_PROBABILITY_OUTPUT], { axis: 1 }),
      node('ArgMax', [ONNX_PROBABILITY_OUTPUT], [ONNX_LABEL_OUTPUT], { axis: 1, keepdims: 0 }),
    ],
  });
}
